/**
 * `fastllm run INPUT -o OUTPUT --batch-api`: the same file through the provider's Batch API, at
 * half the price, resumable. The input is read once: bad lines are answered locally (with their
 * line numbers, never uploaded), cached lines from the cache, and the rest written into request
 * files grouped by endpoint and model (at most `--batch-size` lines and 200 MB each) in a job
 * directory next to the cache, with a durable ledger (`BatchLedger`). `BatchJob.drive` then
 * uploads, creates, polls and downloads; each batch's answers go into the cache and into an
 * answer file sorted by line number; at the end the answer files are merged into OUTPUT in input
 * order, in the same format as an online run. Memory stays flat whatever the job's size: at most
 * a few batches' lines are in memory at a time.
 *
 * @since 0.2.0
 */
import { ApiRequest, BatchExecutor, BatchJob, Cache, type ItemResult, type LLMError, RequestKey } from "@fastllm/core"
import * as OpenAiBatch from "@fastllm/provider-openai/OpenAiBatch"
import { TestServer } from "@fastllm/testing"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import * as AutoProvider from "./AutoProvider.js"
import { type ProgressMode, utf8Lines } from "./BatchFile.js"
import { ConfigurationError } from "./CliError.js"
import * as BatchLedger from "./BatchLedger.js"
import * as BatchLine from "./BatchLine.js"
import { formatDuration } from "./Progress.js"
import * as batchApiOptions from "./internal/batchApiOptions.js"

/**
 * The options `fastllm run` takes for this mode.
 *
 * @since 0.2.0
 * @category commands
 */
export const runOptions = batchApiOptions.runOptions

/**
 * The built-in server's Batch API clock: slow enough to watch a job move, fast enough for a demo.
 *
 * @since 0.2.0
 * @category constants
 */
export const localBatchClock: TestServer.BatchOptions = { validatingMs: 300, linesPerSecond: 2_000, finalizingMs: 300 }

/**
 * The executor: OpenAI's Batch API (or a compatible server) when a key or base URL is given, else
 * the built-in local server, as `AutoProvider` picks the online provider.
 *
 * @since 0.2.0
 * @category layers
 */
export const executorLayer = (options: {
  readonly apiKey?: Redacted.Redacted | undefined
  readonly baseUrl?: string | undefined
  readonly announce: (line: string) => void
}): Layer.Layer<BatchExecutor.BatchExecutor> => {
  if (options.apiKey !== undefined || options.baseUrl !== undefined) {
    return OpenAiBatch.layer({
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl })
    })
  }
  return Layer.unwrapScoped(Effect.map(
    TestServer.make({ ...AutoProvider.defaultLocalServer, batch: localBatchClock }),
    (server) => {
      options.announce(
        `fastllm: no OPENAI_API_KEY or base URL set: using the built-in local test server's Batch API at ${server.url} ` +
          "(simulated answers; its batches live only as long as this run)"
      )
      return OpenAiBatch.layer({ apiKey: Redacted.make("fastllm-local"), baseUrl: server.url, name: AutoProvider.localServerName })
    }
  ))
}

/**
 * Options of {@link run}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly input: string
  readonly output?: string | undefined
  readonly model?: string | undefined
  /** The cache directory: the job's ledger and files live in `<cache>/batch-jobs/`. */
  readonly cacheDirectory: string
  /** Read and write the `Cache` in context. */
  readonly useCache: boolean
  readonly timeToLive?: Duration.Duration | undefined
  readonly retries: number
  readonly batchSize: number
  readonly pollInterval: Duration.Duration
  readonly progress: ProgressMode
  readonly progressIntervalMillis?: number | undefined
  readonly summary: boolean
  readonly statsJson?: string | undefined
  readonly log: (text: string) => void
  /** Ctrl-C: ask whether to cancel the batches (only on a terminal). Default: when stdin is a TTY. */
  readonly interactive?: boolean | undefined
}

/**
 * What a finished job reports.
 *
 * @since 0.2.0
 * @category models
 */
export interface Outcome {
  readonly lines: number
  readonly failed: number
  readonly cached: number
  readonly invalid: number
  readonly batches: number
  readonly wallMillis: number
  readonly job: string
}

/** A request as stored in a job's request file: `{c, u, e, r}`. */
interface StoredLine {
  /** The custom_id uploaded: `L<line number>`. */
  readonly c: string
  /** The input line's own custom_id. */
  readonly u: string
  /** Whether the input line was a Batch API envelope. */
  readonly e: boolean
  /** The request, as `ApiRequest.decode` takes it. */
  readonly r: unknown
}

/**
 * Reads a line of the job's own request files. A type guard rather than a Schema: it runs once
 * per line per load, where `Schema.parseJson` measured ~6% of a 100,000-line job's CPU
 * (`node --cpu-prof`); the request itself is decoded with `ApiRequest.decode`.
 */
const decodeStored = (text: string): Either.Either<StoredLine, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return Either.left("not JSON")
  }
  return typeof json === "object" && json !== null && "c" in json && typeof json.c === "string" && "u" in json &&
      typeof json.u === "string" && "e" in json && typeof json.e === "boolean" && "r" in json
    ? Either.right({ c: json.c, u: json.u, e: json.e, r: json.r })
    : Either.left("not a stored request")
}

interface Meta {
  readonly line: number
  readonly customId: string
  readonly envelope: boolean
}

const lineOf = (customId: string): number => Number(customId.slice(1))

/** Buffered appends to a file, fsynced on close. */
class FileWriter {
  private readonly fd: number
  private parts: Array<string> = []
  private size = 0
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, "w")
  }
  write(text: string): void {
    this.parts.push(text)
    this.size += text.length
    if (this.size >= 1 << 20) this.flush()
  }
  private flush(): void {
    if (this.parts.length === 0) return
    fs.writeSync(this.fd, this.parts.join(""))
    this.parts = []
    this.size = 0
  }
  close(): void {
    this.flush()
    fs.fsyncSync(this.fd)
    fs.closeSync(this.fd)
  }
}

const requestFile = (directory: string, id: string) => path.join(directory, `${id}.requests.jsonl`)
const answerFile = (directory: string, id: string) => path.join(directory, `${id}.answers`)

/** An answer-file line: `<line number> <0|1 failed> <output JSON>`, sorted by line number. */
const answerLine = (line: number, output: BatchLine.BatchOutputLine): string =>
  `${line} ${BatchLine.isFailure(output) ? 1 : 0} ${JSON.stringify(output)}\n`

const readStored = (directory: string, id: string) =>
  Effect.try({
    try: () => fs.readFileSync(requestFile(directory, id), "utf8").split("\n").filter((text) => text !== ""),
    catch: (cause) =>
      new BatchExecutor.BatchError({ operation: "upload", kind: "rejected", detail: `cannot read the job's request file: ${String(cause)}` })
  })

/** A group's lines, decoded again from its request file. */
const loadLines = (directory: string, id: string) =>
  Effect.map(readStored(directory, id), (texts) => {
    const lines: Array<BatchExecutor.RequestLine> = []
    for (const text of texts) {
      const stored = decodeStored(text)
      if (Either.isLeft(stored)) continue
      const request = ApiRequest.decode(stored.right.r)
      if (Either.isRight(request)) lines.push({ customId: stored.right.c, request: request.right })
    }
    return lines
  })

const loadMeta = (directory: string, id: string) =>
  Effect.map(readStored(directory, id), (texts) => {
    const meta = new Map<string, Meta>()
    for (const text of texts) {
      const stored = decodeStored(text)
      if (Either.isRight(stored)) {
        meta.set(stored.right.c, { line: lineOf(stored.right.c), customId: stored.right.u, envelope: stored.right.e })
      }
    }
    return meta
  })

/** Writes a group's request file (fsynced) and its ledger record. */
const writeGroup = (
  ledger: BatchLedger.Ledger,
  group: { readonly id: string; readonly endpoint: BatchExecutor.Endpoint; readonly model: string; readonly attempt: number },
  stored: ReadonlyArray<string>,
  parent?: string
) => {
  const writer = new FileWriter(requestFile(ledger.directory, group.id))
  for (const text of stored) writer.write(text)
  writer.close()
  ledger.append({ t: "group", ...group, size: stored.length, ...(parent === undefined ? {} : { parent }) })
}

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

const hashFile = (file: string) =>
  Effect.async<string, ConfigurationError>((resume) => {
    const hash = createHash("sha256")
    fs.createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", (error) => resume(Effect.fail(new ConfigurationError({ reason: `Cannot read input ${file}: ${error.message}` }))))
      .on("end", () => resume(Effect.succeed(hash.digest("hex"))))
  })

/** Reads the input once: local answers for bad and cached lines, request files for the rest. */
const plan = (options: Options, ledger: BatchLedger.Ledger, executor: BatchExecutor.BatchExecutor.Service) =>
  Effect.gen(function*() {
    const fs_ = yield* FileSystem.FileSystem
    const cache = yield* Cache.Cache
    const maxRequests = Math.max(1, Math.min(options.batchSize, executor.maxRequests))
    const local = new FileWriter(answerFile(ledger.directory, "local"))
    interface Open {
      readonly id: string
      readonly endpoint: BatchExecutor.Endpoint
      readonly model: string
      writer: FileWriter
      count: number
      bytes: number
    }
    const open = new Map<string, Open>()
    let groups = 0
    let lines = 0
    let cached = 0
    let invalid = 0
    const close = (group: Open) => {
      group.writer.close()
      ledger.append({ t: "group", id: group.id, endpoint: group.endpoint, model: group.model, size: group.count, attempt: 0 })
    }
    const fail = (parsed: BatchLine.ParsedLine, error: LLMError.ProviderError) => {
      invalid++
      if (invalid <= 10) options.log(`fastllm: line ${parsed.line}: ${error.message} (not uploaded)\n`)
      const result: ItemResult.ItemResult = { _tag: "Failure", index: 0, key: undefined, kind: undefined, error, attempts: 0 }
      local.write(answerLine(parsed.line, BatchLine.toOutput(parsed, result)))
    }
    yield* fs_.stream(options.input, { chunkSize: 256 * 1024 }).pipe(
      Stream.mapError((e) => new ConfigurationError({ reason: `Cannot read input ${options.input}: ${describe(e)}` })),
      utf8Lines,
      Stream.zipWithIndex,
      Stream.filter(([decoded]) => decoded.text.trim() !== ""),
      Stream.runForEach(([decoded, lineIndex]) =>
        Effect.gen(function*() {
          lines++
          const text = lineIndex === 0 ? decoded.text.replace(/^\uFEFF/, "") : decoded.text
          const parsed = decoded.valid
            ? BatchLine.parse(text, lineIndex + 1, { model: options.model })
            : BatchLine.invalidUtf8(text, lineIndex + 1)
          if (parsed._tag === "Invalid") return fail(parsed, parsed.error)
          const request = ApiRequest.decode(parsed.input)
          if (Either.isLeft(request)) return fail(parsed, request.left)
          if (options.useCache) {
            const key = RequestKey.make(executor.name, request.right)
            const hit = yield* Effect.orElseSucceed(cache.get(key), () => Option.none())
            if (Option.isSome(hit) && hit.value._tag === request.right._tag) {
              cached++
              local.write(answerLine(parsed.line, BatchLine.toOutput(parsed, BatchJob.success(0, key, hit.value, true, false))))
              return
            }
          }
          const endpoint = BatchExecutor.endpointOf(request.right)
          const model = ApiRequest.model(request.right)
          const line: BatchExecutor.RequestLine = { customId: `L${parsed.line}`, request: request.right }
          const bytes = BatchExecutor.lineBytes(line)
          const groupKey = `${endpoint} ${model}`
          let group = open.get(groupKey)
          if (group !== undefined && (group.count >= maxRequests || group.bytes + bytes > executor.maxBytes)) {
            close(group)
            group = undefined
          }
          if (group === undefined) {
            const id = `g${groups++}`
            group = { id, endpoint, model, writer: new FileWriter(requestFile(ledger.directory, id)), count: 0, bytes: 0 }
            open.set(groupKey, group)
          }
          group.writer.write(
            JSON.stringify({ c: line.customId, u: parsed.customId, e: parsed.envelope, r: request.right }) + "\n"
          )
          group.count++
          group.bytes += bytes
        })
      )
    )
    for (const group of open.values()) close(group)
    local.close()
    if (invalid > 10) options.log(`fastllm: ... ${invalid} bad lines in all (see their error lines in the output)\n`)
    ledger.append({ t: "planned", lines, cached, invalid })
    return { lines, cached, invalid }
  })

/** A line reader over an answer file, for the merge. */
const answerReader = (file: string) => {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })[Symbol.asyncIterator]()
  return {
    next: async (): Promise<{ readonly line: number; readonly failed: boolean; readonly json: string } | undefined> => {
      const next = await lines.next()
      if (next.done === true) return undefined
      const text: string = next.value
      const first = text.indexOf(" ")
      return { line: Number(text.slice(0, first)), failed: text[first + 1] === "1", json: text.slice(first + 3) }
    }
  }
}

/** Merges the sorted answer files into the output, in input order; returns lines and failures written. */
const merge = (directory: string, output: string | undefined) =>
  Effect.tryPromise({
    try: async () => {
      const files = fs.readdirSync(directory).filter((name) => name.endsWith(".answers")).map((name) => path.join(directory, name))
      const readers = files.map(answerReader)
      const heads = await Promise.all(readers.map((reader) => reader.next()))
      const target = output === undefined ? process.stdout : fs.createWriteStream(`${output}.partial`)
      let lines = 0
      let failed = 0
      let buffer: Array<string> = []
      const flush = async () => {
        if (buffer.length === 0) return
        const text = buffer.join("")
        buffer = []
        if (!target.write(text)) await new Promise<void>((resolve) => target.once("drain", () => resolve()))
      }
      while (true) {
        let best = -1
        for (let i = 0; i < heads.length; i++) {
          const head = heads[i]
          if (head !== undefined && (best === -1 || head.line < heads[best]!.line)) best = i
        }
        if (best === -1) break
        const head = heads[best]!
        buffer.push(head.json + "\n")
        lines++
        if (head.failed) failed++
        if (buffer.length >= 512) await flush()
        heads[best] = await readers[best]!.next()
      }
      await flush()
      if (target !== process.stdout) {
        await new Promise<void>((resolve, reject) => target.end((error?: Error | null) => error ? reject(error) : resolve()))
      }
      return { lines, failed }
    },
    catch: (cause) => new ConfigurationError({ reason: `Cannot write output ${output ?? "(stdout)"}: ${describe(cause)}` })
  })

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })

/**
 * One progress line: batches by status, request counts, elapsed, and an estimate once counts move.
 *
 * @since 0.2.0
 * @category formatting
 */
export const progressLine = (
  progress: BatchJob.Progress,
  elapsedMillis: number,
  etaMillis: number | undefined
): string => {
  const statuses = Object.entries(progress.batches).map(([status, n]) => `${n} ${status}`)
  const { completed, failed, total } = progress.requests
  return [
    `batches: ${statuses.join(", ") || "none"}`,
    `requests ${integer.format(completed + failed)}/${integer.format(total)} done, ${integer.format(failed)} failed`,
    `cached ${integer.format(progress.cached)}`,
    `elapsed ${formatDuration(elapsedMillis)}`,
    `ETA ${etaMillis === undefined ? "-" : formatDuration(etaMillis)}`
  ].join(" | ")
}

const ask = (question: string) =>
  Effect.async<string>((resume) => {
    const prompt = readline.createInterface({ input: process.stdin, output: process.stderr })
    prompt.question(question, (answer) => {
      prompt.close()
      resume(Effect.succeed(answer))
    })
    return Effect.sync(() => prompt.close())
  })

/**
 * Runs a JSONL file through the `BatchExecutor` in context, resuming the job the ledger under
 * `cacheDirectory` knows for the same input, provider and model.
 *
 * @since 0.2.0
 * @category running
 */
export const run = (
  options: Options
): Effect.Effect<
  Outcome,
  ConfigurationError | BatchExecutor.BatchError,
  BatchExecutor.BatchExecutor | Cache.Cache | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const executor = yield* BatchExecutor.BatchExecutor
    const cache = yield* Cache.Cache
    const startedAt = yield* Clock.currentTimeMillis
    const inputHash = yield* hashFile(options.input)
    const job = createHash("sha256").update(`${executor.name}\u0000${options.model ?? ""}\u0000${inputHash}`).digest("hex").slice(0, 16)
    const directory = path.join(BatchLedger.jobsDirectory(options.cacheDirectory), job)
    const ledgerFile = path.join(directory, "ledger.jsonl")
    let state = BatchLedger.read(ledgerFile)
    if (state.planned === undefined || state.done) {
      // nothing was uploaded before planning ended: start the job afresh
      fs.rmSync(directory, { recursive: true, force: true })
    }
    const ledger = yield* Effect.acquireRelease(
      Effect.try({
        try: () => BatchLedger.open(directory),
        catch: (e) => new ConfigurationError({ reason: `Cannot write the batch job's ledger in ${directory}: ${describe(e)}` })
      }),
      (ledger) => Effect.sync(() => ledger.close())
    )
    if (state.planned === undefined || state.done) {
      ledger.append({ t: "job", input: path.resolve(options.input), provider: executor.name, startedAt })
      yield* plan(options, ledger, executor).pipe(Effect.provideService(Cache.Cache, cache))
      state = BatchLedger.read(ledgerFile)
    } else {
      const flying = [...state.groups.values()].filter(BatchLedger.inFlight).length
      const waiting = [...state.groups.values()].filter((g) => g.ended === undefined && g.batchId === undefined).length
      options.log(
        `fastllm: resuming batch job ${job}: ${flying} batch${flying === 1 ? "" : "es"} in flight, ${waiting} to submit\n`
      )
    }
    const planned = state.planned!
    const known = state.groups
    const setOptions = options.timeToLive === undefined ? undefined : { timeToLive: options.timeToLive }
    let batches = [...known.values()].filter((g) => g.batchId !== undefined).length

    const toGroup = (g: BatchLedger.GroupState): BatchJob.Group => ({
      id: g.id,
      endpoint: g.endpoint,
      size: g.size,
      attempt: g.attempt,
      load: loadLines(directory, g.id),
      fileId: g.fileId,
      batchId: g.batchId,
      creating: g.creating
    })

    const journal: BatchJob.Journal = {
      uploading: (group) => Effect.sync(() => ledger.append({ t: "uploading", id: group.id })),
      uploaded: (group, fileId) => Effect.sync(() => ledger.append({ t: "uploaded", id: group.id, fileId })),
      creating: (group, fileId) => Effect.sync(() => ledger.append({ t: "creating", id: group.id, fileId })),
      created: (group, batch) =>
        Effect.sync(() => {
          batches++
          ledger.append({ t: "created", id: group.id, batchId: batch.id })
          const state = known.get(group.id)
          if (state !== undefined) state.batchId = batch.id
        }),
      settle: (group, settled) =>
        Effect.gen(function*() {
          const meta = yield* loadMeta(directory, group.id)
          const answers: Array<{ readonly line: number; readonly text: string }> = []
          const writes: Array<{ readonly key: string; readonly response: ApiRequest.ApiResponse }> = []
          for (const { line, outcome } of settled) {
            const info = meta.get(line.customId)
            if (info === undefined) continue
            const parsed: BatchLine.ParsedLine = {
              _tag: "Request",
              line: info.line,
              customId: info.customId,
              envelope: info.envelope,
              input: undefined
            }
            const key = options.useCache ? RequestKey.make(executor.name, line.request) : ""
            const kind = line.request._tag === "Chat" ? "chat" as const : "embedding" as const
            const result: ItemResult.ItemResult = Either.isRight(outcome)
              ? BatchJob.success(info.line - 1, key, outcome.right, false, false)
              : { _tag: "Failure", index: info.line - 1, key, kind, error: outcome.left, attempts: 1 }
            if (options.useCache && Either.isRight(outcome)) writes.push({ key, response: outcome.right })
            answers.push({ line: info.line, text: answerLine(info.line, BatchLine.toOutput(parsed, result)) })
          }
          // concurrent writes: the disk cache commits them together (one at a time costs a commit each)
          yield* Effect.forEach(
            writes,
            ({ key, response }) => Effect.orElseSucceed(cache.set(key, response, setOptions), () => undefined),
            { concurrency: 256, discard: true }
          )
          answers.sort((a, b) => a.line - b.line)
          const file = answerFile(directory, group.id)
          const writer = new FileWriter(`${file}.tmp`)
          for (const answer of answers) writer.write(answer.text)
          writer.close()
          fs.renameSync(`${file}.tmp`, file)
        }),
      spawn: (parent, name, lines, attempt) =>
        Effect.gen(function*() {
          const existing = known.get(name)
          if (existing !== undefined) return toGroup(existing)
          const wanted = new Set(lines.map((line) => line.customId))
          const stored = (yield* readStored(directory, parent.id)).filter((text) => {
            const decoded = decodeStored(text)
            return Either.isRight(decoded) && wanted.has(decoded.right.c)
          }).map((text) => text + "\n")
          const parentState = known.get(parent.id)
          const group = { id: name, endpoint: parent.endpoint, model: parentState?.model ?? "", attempt }
          writeGroup(ledger, group, stored, parent.id)
          const state: BatchLedger.GroupState = {
            ...group,
            size: stored.length,
            fileId: undefined,
            batchId: undefined,
            creating: false,
            ended: undefined
          }
          known.set(name, state)
          return toGroup(state)
        }),
      ended: (group, batch) =>
        Effect.sync(() => {
          const status = batch?.status ?? "split"
          ledger.append({ t: "ended", id: group.id, status })
          const state = known.get(group.id)
          if (state !== undefined) state.ended = status
        })
    }

    // progress: the latest snapshot, drawn every interval by its own fiber
    let latest: BatchJob.Progress = { batches: {}, requests: { total: 0, completed: 0, failed: 0 }, cached: planned.cached }
    let firstMove: { readonly at: number; readonly done: number } | undefined
    const draw = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const done = latest.requests.completed + latest.requests.failed
      if (firstMove === undefined && done > 0) firstMove = { at: now, done }
      const eta = firstMove !== undefined && done > firstMove.done
        ? (latest.requests.total - done) * (now - firstMove.at) / (done - firstMove.done)
        : undefined
      const text = progressLine(latest, now - startedAt, eta)
      options.log(options.progress === "bar" ? `\r\x1b[2K${text}` : `fastllm: ${text}\n`)
    })
    const interval = options.progressIntervalMillis ?? (options.progress === "bar" ? 200 : 5000)
    const progressFiber = options.progress === "none"
      ? undefined
      : yield* Effect.fork(Effect.repeat(Effect.zipRight(Effect.sleep(Duration.millis(interval)), draw), { until: () => false }))

    const inFlight = () => [...known.values()].filter(BatchLedger.inFlight)
    const onInterrupt = Effect.gen(function*() {
      if (progressFiber !== undefined) yield* Fiber.interrupt(progressFiber)
      const flying = inFlight()
      if (flying.length === 0) return
      const interactive = options.interactive ?? process.stdin.isTTY === true
      const answer = interactive
        ? yield* ask(`\nfastllm: ${flying.length} batch${flying.length === 1 ? "" : "es"} still running. Cancel them? [y/N] `)
        : "n"
      if (/^y/i.test(answer.trim())) {
        yield* Effect.forEach(flying, (g) => Effect.ignore(executor.cancel(g.batchId!)), { discard: true })
        options.log(`fastllm: asked to cancel ${flying.length} batch${flying.length === 1 ? "" : "es"}; rerun the same command to collect what they answered.\n`)
      } else {
        options.log(
          `\nfastllm: left ${flying.length} batch${flying.length === 1 ? "" : "es"} running (job ${job}). ` +
            `Rerun the same command to resume, or \`fastllm batches cancel --all\` to cancel them.\n`
        )
      }
    })

    const pending = [...known.values()].filter((g) => g.ended === undefined).map(toGroup)
    yield* BatchJob.drive(pending, journal, {
      pollInterval: options.pollInterval,
      pollIntervalMax: Duration.max(options.pollInterval, Duration.seconds(60)),
      retries: options.retries,
      cached: planned.cached,
      metadata: { fastllm_job: job },
      onProgress: (progress) => Effect.sync(() => void (latest = progress))
    }).pipe(Effect.onInterrupt(() => onInterrupt))
    if (progressFiber !== undefined) {
      yield* Fiber.interrupt(progressFiber)
      yield* draw
      if (options.progress === "bar") options.log("\n")
    }

    const written = yield* merge(directory, options.output)
    if (written.lines !== planned.lines) {
      return yield* new ConfigurationError({
        reason: `the batch job's answers are incomplete (${written.lines} of ${planned.lines} lines); rerun to resume`
      })
    }
    if (options.output !== undefined) {
      const output = options.output
      yield* Effect.try({
        try: () => fs.renameSync(`${output}.partial`, output),
        catch: (e) => new ConfigurationError({ reason: `Cannot write output ${output}: ${describe(e)}` })
      })
    }
    ledger.append({ t: "done" })
    ledger.close()
    fs.rmSync(directory, { recursive: true, force: true })
    const wallMillis = (yield* Clock.currentTimeMillis) - startedAt
    const outcome: Outcome = {
      lines: written.lines,
      failed: written.failed,
      cached: planned.cached,
      invalid: planned.invalid,
      batches,
      wallMillis,
      job
    }
    if (options.summary) {
      options.log(
        `fastllm: ${integer.format(outcome.lines)} lines in ${formatDuration(wallMillis)} through the Batch API: ` +
          `${integer.format(outcome.lines - outcome.failed)} succeeded, ${integer.format(outcome.failed)} failed ` +
          `(${integer.format(outcome.invalid)} bad input), ${integer.format(outcome.cached)} from the cache, ` +
          `${batches} batch${batches === 1 ? "" : "es"}\n`
      )
    }
    if (options.statsJson !== undefined) {
      const statsJson = options.statsJson
      yield* Effect.try({
        try: () => fs.writeFileSync(statsJson, JSON.stringify(outcome, null, 2) + "\n"),
        catch: (e) => new ConfigurationError({ reason: `Cannot write stats ${statsJson}: ${describe(e)}` })
      })
    }
    return outcome
  }).pipe(Effect.scoped)

/**
 * `fastllm run --batch-api`'s part of the `run` handler: picks the executor as the online
 * provider is picked (a key or base URL, else the built-in server), and runs the job; a batch API
 * failure (a wrong key, the service refusing the files) ends the command with exit code 2.
 *
 * @since 0.2.0
 * @category commands
 */
export const fromCommandLine = (
  args: {
    readonly input: string
    readonly model: Option.Option<string>
    readonly noCache: boolean
    readonly retries: number
    readonly quiet: boolean
    readonly statsJson: Option.Option<string>
  },
  context: {
    /** `--batch-size` and `--poll-interval`, checked. */
    readonly batchSize: number
    readonly pollInterval: Duration.Duration
    readonly settings: { readonly apiKey?: Redacted.Redacted | undefined; readonly baseUrl?: string | undefined }
    readonly cachePath: string
    readonly ttl: Duration.Duration | undefined
    readonly output: string | undefined
    readonly progress: ProgressMode
    readonly progressIntervalMillis: number | undefined
    readonly log: (text: string) => void
    readonly cacheLayer: Layer.Layer<Cache.Cache, ConfigurationError>
  }
): Effect.Effect<Outcome, ConfigurationError, FileSystem.FileSystem> =>
  run({
      input: args.input,
      output: context.output,
      model: Option.getOrUndefined(args.model),
      cacheDirectory: context.cachePath,
      useCache: !args.noCache,
      timeToLive: context.ttl,
      retries: args.retries,
      batchSize: context.batchSize,
      pollInterval: context.pollInterval,
      progress: context.progress,
      progressIntervalMillis: context.progressIntervalMillis,
      summary: !args.quiet,
      statsJson: Option.getOrUndefined(args.statsJson),
      log: context.log
    }).pipe(
      Effect.provide(Layer.merge(
        executorLayer({ ...context.settings, announce: (line) => context.log(line + "\n") }),
        context.cacheLayer
      )),
      Effect.catchTag("BatchError", (error) => Effect.fail(new ConfigurationError({ reason: error.message })))
    )
