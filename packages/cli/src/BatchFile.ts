/**
 * Runs a JSONL batch file through the RequestManager: lines stream in, Batch output lines stream out
 * in input order as they finish, in constant memory whatever the file size. The output is written
 * to `OUTPUT.partial` and renamed over `OUTPUT` at the end, so a crash never leaves a half-written
 * file under the final name; a rerun answers what was done from the cache and rewrites it complete.
 *
 * @since 0.1.0
 */
import { RequestManager } from "@fastllm/core"
import type { BatchStats } from "@fastllm/core"
import * as FileSystem from "@effect/platform/FileSystem"
import * as nodeFs from "node:fs"
import type { Writable } from "node:stream"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as BatchLine from "./BatchLine.js"
import * as CliError from "./CliError.js"
import * as CustomIds from "./CustomIds.js"
import * as FileErrors from "./FileErrors.js"
import * as InputFile from "./InputFile.js"
import * as Progress from "./Progress.js"

/**
 * The CLI's exit-2 error, now in its own module.
 *
 * @deprecated since 0.2.0: use `CliError.ConfigurationError` (the same class).
 * @since 0.1.0
 * @category errors
 */
export const ConfigurationError = CliError.ConfigurationError
/**
 * @deprecated since 0.2.0: use `CliError.ConfigurationError`.
 * @since 0.1.0
 * @category errors
 */
export type ConfigurationError = CliError.ConfigurationError

/**
 * How progress is shown: a redrawn bar (terminals), a log line per interval, or nothing.
 *
 * @since 0.1.0
 * @category models
 */
export type ProgressMode = "bar" | "log" | "none"

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly input: string
  /** Output path; undefined writes the output lines to stdout. */
  readonly output?: string | undefined
  /** Replaces the model of every request. */
  readonly model?: string | undefined
  /** Default `"none"`. */
  readonly progress?: ProgressMode | undefined
  /** Time between progress updates. Default 200 ms for the bar, 5 s for log lines. */
  readonly progressIntervalMillis?: number | undefined
  /** Print the summary at the end (to stderr). Default false. */
  readonly summary?: boolean | undefined
  /** Write the final `BatchStats` (plus `wallMillis`) as JSON to this path. */
  readonly statsJson?: string | undefined
  /**
   * The non-blank line count from an earlier {@link prepare} of the same options; when given, `run`
   * does not check the files and count the lines again.
   */
  readonly prepared?: number | undefined
  /** Where progress and the summary go. Default: process.stderr. */
  readonly log?: ((text: string) => void) | undefined
  /** Called with every output line as it is written (the live viewer lists the failures). */
  readonly onLine?: ((line: BatchLine.BatchOutputLine) => void) | undefined
  /** Runs the lines and makes their output lines. Default {@link managerRunner}; see `ResponseSchema`. */
  readonly runner?: Runner | undefined
  /**
   * Said once (through `log`) when the server first answers 404, e.g. "does the base URL need
   * /v1?"; `{path}` is replaced by the request's path (`/chat/completions`).
   */
  readonly notFoundHint?: string | undefined
}

/**
 * What runs the parsed lines (in input order, with the RequestManager in context) and turns each
 * result into its output line.
 *
 * @since 0.2.0
 * @category models
 */
export type Runner = <E>(
  inputs: Stream.Stream<RequestManager.WithMeta<BatchLine.ParsedLine>, E>,
  total: number | undefined
) => Stream.Stream<{ readonly meta: BatchLine.ParsedLine; readonly line: BatchLine.BatchOutputLine }, E, RequestManager.RequestManager>

/**
 * The default runner: `RequestManager.streamWith`, and `BatchLine.toOutput` for each result.
 *
 * @since 0.2.0
 * @category constructors
 */
export const managerRunner: Runner = (inputs, total) =>
  Stream.unwrap(Effect.map(RequestManager.RequestManager, (manager) => manager.streamWith(inputs, { total }))).pipe(
    Stream.map(({ meta, result }) => ({ meta, line: BatchLine.toOutput(meta, result) }))
  )

/**
 * What a finished run reports.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunSummary {
  readonly stats: BatchStats.BatchStats
  readonly wallMillis: number
  /** Lines written. */
  readonly lines: number
  /** Lines that report a failure. */
  readonly failed: number
  /** Lines whose custom_id an earlier line already used (OpenAI's Batch API refuses such files). */
  readonly duplicateCustomIds: number
}

/**
 * The former name of {@link RunSummary}.
 *
 * @deprecated Use {@link RunSummary}; this alias goes in the next minor release.
 * @since 0.1.0
 * @category models
 */
export type Outcome = RunSummary

const isBlank = (byte: number) => byte === 32 || byte === 9 || byte === 13 || byte === 10

/**
 * Counts the non-blank lines of a file in one streaming pass over its bytes (for progress and ETA).
 *
 * @since 0.1.0
 * @category combinators
 */
export const countLines = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => {
    let count = 0
    let content = false
    const scan = (bytes: Uint8Array) => {
      for (let i = 0; i < bytes.length; i++) {
        const byte = bytes[i]!
        if (byte === 10) {
          if (content) count++
          content = false
        } else if (!content && !isBlank(byte)) {
          content = true
        }
      }
    }
    // A file of at most one chunk is read with one `readFile` instead of a one-chunk stream: the
    // stream's set-up (and its 1 MB read buffer) is most of a small file's count, paid before every
    // one-line run (`node bench/startupPhases.mjs --runs 31 before=... after=...`). Bigger files
    // stream as before (`npx tsx bench/lib/cliPerLine.ts --lines 50000 --runs 3 --before ...`).
    const whole = fs.readFile(path).pipe(Effect.map((bytes) => {
      scan(bytes)
      return count + (content ? 1 : 0)
    }))
    const streamed = fs.stream(path, { chunkSize: countChunk }).pipe(
      Stream.runForEach((bytes) => Effect.sync(() => scan(bytes))),
      Effect.map(() => count + (content ? 1 : 0))
    )
    return Effect.flatMap(fs.stat(path), (info) => Number(info.size) <= countChunk ? whole : streamed)
  })

const countChunk = 1024 * 1024

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const lossyUtf8 = new TextDecoder("utf-8")

const decodeLine = (bytes: Uint8Array): { readonly text: string; readonly valid: boolean } => {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length
  const line = bytes.subarray(0, end)
  try {
    return { text: strictUtf8.decode(line), valid: true }
  } catch {
    return { text: lossyUtf8.decode(line), valid: false }
  }
}

/**
 * Splits bytes into lines (LF or CRLF) and decodes each line as strict UTF-8, so that invalid
 * bytes fail their own line instead of being replaced with U+FFFD and sent (which
 * `Stream.decodeText` would do).
 *
 * @since 0.1.0
 * @category combinators
 */
export const utf8Lines = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>
): Stream.Stream<{ readonly text: string; readonly valid: boolean }, E, R> =>
  Stream.suspend(() => {
    let rest: Buffer = Buffer.alloc(0)
    return bytes.pipe(
      Stream.mapConcat((chunk) => {
        const buffer = rest.length === 0
          ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
          : Buffer.concat([rest, chunk])
        const lines: Array<{ readonly text: string; readonly valid: boolean }> = []
        let start = 0
        for (let end = buffer.indexOf(10, start); end !== -1; end = buffer.indexOf(10, start)) {
          lines.push(decodeLine(buffer.subarray(start, end)))
          start = end + 1
        }
        // copy the unfinished line so the chunk it came from can be freed
        rest = Buffer.from(buffer.subarray(start))
        return lines
      }),
      Stream.concat(Stream.suspend(() => rest.length === 0 ? Stream.empty : Stream.make(decodeLine(rest))))
    )
  })

const describe = FileErrors.describe

/** Writes texts to a Node writable (the output file, or stdout); see {@link writer}. */
interface Writer<E> {
  readonly write: (text: string) => Effect.Effect<void, E>
  /** Waits until everything is written (and the file closed). */
  readonly end: Effect.Effect<void, E>
}

/**
 * A writer over a Node writable that does not wait for each write: while one is in flight, the next
 * texts queue in the writable and go out together (`writev`), so there are as many writes as the
 * disk or the reader takes, not one per chunk of results, and no timer groups them. It waits
 * when the writable's buffer is full ('drain'). A failed write (EPIPE when the reader went away,
 * ENOSPC) fails the next write or the end, instead of crashing the process with an unhandled
 * 'error' event (which `NodeSink.fromWritable` let through). Departure from `Stream.groupedWithin`
 * + a sink writing one group at a time: `npx tsx bench/lib/cliPerLine.ts --lines 50000 --runs 5
 * --before PATH`. `owned`: the writable is the output file's, ended and closed here.
 */
const writer = <E>(
  writable: Writable,
  owned: boolean,
  onError: (error: unknown) => E
): Effect.Effect<Writer<E>, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const state: { error: unknown; readonly record: (error: unknown) => void } = {
          error: undefined,
          record: (error) => {
            if (error != null && state.error === undefined) state.error = error
          }
        }
        writable.on("error", state.record)
        return state
      }),
      (state) =>
        Effect.sync(() => {
          writable.off("error", state.record)
          // an output file that was not ended (the run failed or was interrupted) is closed here
          if (owned && !writable.destroyed) writable.destroy()
        })
    ),
    (state): Writer<E> => {
      const settle = (register: (done: () => void) => void) =>
        Effect.async<void, E>((resume) => {
          let settled = false
          const done = () => {
            if (settled) return
            settled = true
            writable.off("error", done)
            resume(state.error === undefined ? Effect.void : Effect.fail(onError(state.error)))
          }
          writable.once("error", done)
          register(done)
          return Effect.sync(() => writable.off("error", done))
        })
      return {
        write: (text) =>
          Effect.suspend(() => {
            if (state.error !== undefined) return Effect.fail(onError(state.error))
            if (writable.write(text, state.record)) return Effect.void
            return settle((done) => writable.once("drain", done))
          }),
        end: Effect.suspend(() => {
          if (state.error !== undefined) return Effect.fail(onError(state.error))
          return owned
            ? settle((done) => {
              writable.once("close", done)
              writable.end()
            })
            : settle((done) => writable.write("", (error) => {
              state.record(error)
              done()
            }))
        })
      }
    }
  )

/**
 * Checks that the input can be read, before any request is made; returns the number of non-blank
 * input lines of a file, or undefined for a stream (`-`, `/dev/stdin`, a pipe), which is read only
 * once. It writes nothing: the output is checked and locked by the command (`OutputLock`), and
 * `OUTPUT.partial` is created only when the run starts, so a run that fails its set-up leaves none.
 *
 * @since 0.1.0
 * @category combinators
 */
export const prepare = (
  options: Pick<Options, "input" | "output">
): Effect.Effect<number | undefined, ConfigurationError, FileSystem.FileSystem> =>
  Effect.flatMap(InputFile.kind(options.input), (kind) =>
    kind === "Stream"
      ? Effect.succeed(undefined)
      : countLines(options.input).pipe(
        Effect.mapError((e) => new ConfigurationError({ reason: `Cannot read input ${options.input}: ${describe(e)}` }))
      ))

/**
 * Runs a batch file with the RequestManager in context and returns the final stats.
 *
 * @since 0.1.0
 * @category combinators
 */
export const run = (
  options: Options
): Effect.Effect<
  RunSummary,
  ConfigurationError | CliError.OutputClosed,
  RequestManager.RequestManager | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const manager = yield* RequestManager.RequestManager
    const log = options.log ?? ((text: string) => void process.stderr.write(text))
    const startedAt = yield* Clock.currentTimeMillis

    const total = options.prepared ?? (yield* prepare(options))
    const inputKind = yield* InputFile.kind(options.input)
    const partial = options.output === undefined ? undefined : `${options.output}.partial`

    let lines = 0
    let failed = 0
    const duplicates = CustomIds.tracker((text) => log(`fastllm: warning: ${text}\n`))
    let notFoundHint = options.notFoundHint
    // Index, blank-line filter and parse in one step per chunk of lines (one stage of the stream
    // instead of three): `npx tsx bench/lib/cliPerLine.ts --lines 50000 --runs 5 --before PATH`.
    let lineIndex = 0
    const inputs = InputFile.bytes(options.input, inputKind).pipe(
      Stream.provideService(FileSystem.FileSystem, fs),
      utf8Lines,
      Stream.mapChunks((chunk) => {
        const out: Array<RequestManager.WithMeta<BatchLine.ParsedLine>> = []
        for (const decoded of chunk) {
          const index = lineIndex++
          if (decoded.text.trim() === "") continue
          const text = index === 0 ? decoded.text.replace(/^\uFEFF/, "") : decoded.text
          const parsed = decoded.valid
            ? BatchLine.parse(text, index + 1, { model: options.model })
            : BatchLine.invalidUtf8(text, index + 1)
          duplicates.see(parsed)
          // A line that is not a request still takes its slot (and is counted as failed by the
          // manager); its output line is the parse error, not the placeholder's.
          out.push({ meta: parsed, request: parsed._tag === "Request" ? parsed.input : null })
        }
        return Chunk.unsafeFromArray(out)
      })
    )

    // The output lines of every result that is ready, as one text (one write): the manager's
    // stream gives all the results ready in order in one chunk per pull.
    const outputText = (options.runner ?? managerRunner)(inputs, total).pipe(
      Stream.mapChunks((chunk) => {
        let text = ""
        for (const { line, meta: parsed } of chunk) {
          if (notFoundHint !== undefined && line.response?.status_code === 404 && parsed._tag === "Request") {
            log(`fastllm: ${notFoundHint.replace("{path}", BatchLine.pathOf(parsed))}\n`)
            notFoundHint = undefined
          }
          lines++
          if (BatchLine.isFailure(line)) failed++
          options.onLine?.(line)
          text += JSON.stringify(line) + "\n"
        }
        return text === "" ? Chunk.empty<string>() : Chunk.of(text)
      })
    )

    const writeError = (e: unknown) =>
      new ConfigurationError({ reason: `Cannot write output ${options.output ?? "(stdout)"}: ${describe(e)}` })
    // A reader that went away (`fastllm run x.jsonl | head`) ends the run quietly: not an error.
    const stdoutError = (e: unknown) => FileErrors.code(e) === "EPIPE" ? new CliError.OutputClosed() : writeError(e)
    const writing: Effect.Effect<void, ConfigurationError | CliError.OutputClosed, RequestManager.RequestManager> = Effect.scoped(
      partial === undefined
        ? Effect.flatMap(writer(process.stdout, false, stdoutError), (w) =>
          Effect.zipRight(Stream.runForEach(outputText, w.write), w.end))
        : Effect.flatMap(
          Effect.flatMap(
            Effect.try({ try: () => nodeFs.createWriteStream(partial, { fd: nodeFs.openSync(partial, "w") }), catch: writeError }),
            (stream) => writer(stream, true, writeError)
          ),
          (w) => Effect.zipRight(Stream.runForEach(outputText, w.write), w.end)
        )
    )

    const mode = options.progress ?? "none"
    const interval = options.progressIntervalMillis ?? (mode === "bar" ? 200 : 5000)
    const draw = (stats: BatchStats.BatchStats) =>
      Effect.sync(() => {
        if (mode === "bar") {
          const columns = process.stderr.columns
          log(`\r\x1b[2K${Progress.bar(stats, columns !== undefined && columns >= 40 ? columns - 1 : 119)}`)
        } else {
          log(Progress.logLine(stats) + "\n")
        }
      })
    const progressFiber = mode === "none"
      ? undefined
      : yield* manager.progress(`${interval} millis`).pipe(
        Stream.drop(mode === "log" ? 1 : 0),
        Stream.filter((stats) => stats.total > 0),
        Stream.runForEach(draw),
        Effect.fork
      )

    yield* writing
    if (progressFiber !== undefined) {
      yield* Fiber.interrupt(progressFiber)
      if (mode === "bar") yield* Effect.flatMap(manager.snapshot, draw).pipe(Effect.zipRight(Effect.sync(() => log("\n"))))
    }
    if (partial !== undefined && options.output !== undefined) {
      const output = options.output
      yield* fs.rename(partial, output).pipe(
        Effect.mapError((e) => new ConfigurationError({ reason: `Cannot write output ${output}: ${describe(e)}` }))
      )
    }
    const stats = yield* manager.snapshot
    const wallMillis = (yield* Clock.currentTimeMillis) - startedAt
    if (options.summary === true) {
      log(Progress.summary(stats, wallMillis) + "\n")
      if (duplicates.count() > 0) log(`  ${CustomIds.summary(duplicates.count())}\n`)
    }
    if (options.statsJson !== undefined) {
      const statsJson = options.statsJson
      yield* fs.writeFileString(statsJson, JSON.stringify({ ...stats, wallMillis, lines, failed, duplicateCustomIds: duplicates.count() }, null, 2) + "\n").pipe(
        Effect.mapError((e) => new ConfigurationError({ reason: `Cannot write stats ${statsJson}: ${describe(e)}` }))
      )
    }
    return { stats, wallMillis, lines, failed, duplicateCustomIds: duplicates.count() }
  })
