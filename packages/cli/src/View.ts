/**
 * `fastllm view OUTPUT.jsonl [--input INPUT.jsonl] [--port P] [--open]` and `fastllm run ... --ui`:
 * the web viewer of `@fastllm/viewer` on 127.0.0.1, for a result file or a run as it goes.
 *
 * @since 0.2.0
 */
import type { BatchStats } from "@fastllm/core"
import { RequestManager } from "@fastllm/core"
import type { LiveFeed } from "@fastllm/viewer"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import type { BatchOutputLine } from "./BatchLine.js"
import * as BatchLine from "./BatchLine.js"
import { ConfigurationError } from "./CliError.js"

const log = (text: string) => void process.stderr.write(text)

// The viewer (its server, index and page) is imported when a page is asked for (`fastllm view`,
// `run --ui`), not when the command starts (`npx tsx bench/startup.ts`).
const loadViewer = Effect.promise(() => import("@fastllm/viewer"))

/**
 * Tries to open `url` in the system's browser; says so when it cannot (the URL is printed anyway).
 *
 * @since 0.2.0
 * @category running
 */
export const openBrowser = (url: string): Effect.Effect<void> =>
  Effect.sync(() => {
    const [command, args] = process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
      ? ["cmd", ["/c", "start", "", url]]
      : ["xdg-open", [url]]
    const child = spawn(command, args, { detached: true, stdio: "ignore" })
    child.on("error", (e) => log(`fastllm: could not open a browser (${e.message}); open ${url} yourself\n`))
    child.unref()
  })

const portOption = Options.integer("port").pipe(
  Options.withPseudoName("P"),
  Options.withDescription("Port on 127.0.0.1 (default: a free port)"),
  Options.optional
)

const checkPort = (port: Option.Option<number>) =>
  Option.match(port, {
    onNone: () => Effect.succeed(0),
    onSome: (p) =>
      p >= 0 && p <= 65535 ? Effect.succeed(p) : Effect.fail(new ConfigurationError({ reason: `--port must be 0 to 65535, got ${p}` }))
  })

const configuration = (e: { readonly message: string }) => new ConfigurationError({ reason: e.message })

const viewOptions = {
  output: Args.file({ name: "OUTPUT.jsonl", exists: "yes" }).pipe(
    Args.withDescription("A result file (OpenAI Batch output JSONL, as `fastllm run -o` writes it)")
  ),
  input: Options.file("input", { exists: "yes" }).pipe(
    Options.withPseudoName("INPUT.jsonl"),
    Options.withDescription("The run's input file: each item's request is shown next to its answer"),
    Options.optional
  ),
  port: portOption,
  open: Options.boolean("open").pipe(Options.withDescription("Open the page in the system's browser"))
}

/**
 * The handler of `fastllm view`: indexes the file, serves the page until interrupted (Ctrl-C).
 * Prints the URL alone on stdout (for scripts) and a line about the file on stderr.
 *
 * @since 0.2.0
 * @category commands
 */
export const viewHandler = (args: {
  readonly output: string
  readonly input: Option.Option<string>
  readonly port: Option.Option<number>
  readonly open: boolean
}) =>
  Effect.scoped(Effect.gen(function*() {
    const port = yield* checkPort(args.port)
    const { ResultIndex, ViewerServer } = yield* loadViewer
    const results = yield* ResultIndex.make(args.output).pipe(Effect.mapError(configuration))
    const summary = yield* results.summary
    const server = yield* ViewerServer.make({ results, input: Option.getOrUndefined(args.input), port }).pipe(
      Effect.mapError(configuration)
    )
    log(
      `fastllm: ${args.output}: ${summary.lines.toLocaleString("en-US")} items indexed in ` +
        `${(summary.indexMillis / 1000).toFixed(1)} s; viewer at ${server.url} (Ctrl-C to stop)\n`
    )
    process.stdout.write(server.url + "\n")
    if (args.open) yield* openBrowser(server.url)
    return yield* Effect.never
  }))

/**
 * `fastllm view OUTPUT.jsonl [--input INPUT.jsonl] [--port P] [--open]`.
 *
 * @since 0.2.0
 * @category commands
 */
export const viewCommand = Command.make("view", viewOptions, viewHandler).pipe(
  Command.withDescription(
    "Look at a result file in the browser: a page on 127.0.0.1 with every item (filter, search, sort), " +
      "each answer next to its request, token and cost totals, and charts. Nothing leaves the machine."
  )
)

/**
 * The `--ui` option of `fastllm run`.
 *
 * @since 0.2.0
 * @category options
 */
export const uiOption = Options.boolean("ui").pipe(
  Options.withDescription("Also show the run live in the browser (a page on 127.0.0.1; its URL is printed)")
)

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const failureOf = (line: BatchOutputLine): LiveFeed.Failure => {
  if (line.error !== null) return { customId: line.custom_id, code: line.error.code, message: line.error.message }
  const body: unknown = line.response?.body
  const error = isRecord(body) && isRecord(body.error) ? body.error : {}
  const text = (key: string) => {
    const value = error[key]
    return typeof value === "string" ? value : ""
  }
  return {
    customId: line.custom_id,
    code: text("code") || text("type") || `http_${line.response?.status_code ?? "?"}`,
    message: text("message")
  }
}

/**
 * Runs `run` with, when `ui` is set, the live viewer beside it: progress snapshots every 500 ms
 * (`manager.progress`), the failed lines as they are written, and the end, sent to the page.
 * `run` gets the callback to call with every output line.
 *
 * @since 0.2.0
 * @category running
 */
export const runWithUi = <A extends { readonly stats: BatchStats.BatchStats; readonly wallMillis: number }, E, R>(
  ui: { readonly enabled: boolean; readonly input: string; readonly output: string | undefined; readonly concurrency: number },
  run: (
    onLine: ((line: BatchOutputLine) => void) | undefined
  ) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ConfigurationError, R | RequestManager.RequestManager> =>
  !ui.enabled ? run(undefined) : Effect.scoped(Effect.gen(function*() {
    const manager = yield* RequestManager.RequestManager
    const { LiveFeed, ViewerServer } = yield* loadViewer
    const feed = yield* LiveFeed.make({ input: ui.input, output: ui.output, concurrency: ui.concurrency })
    const server = yield* ViewerServer.make({ live: feed }).pipe(Effect.mapError(configuration))
    log(`fastllm: live view at ${server.url}\n`)
    const progress = yield* manager.progress("500 millis").pipe(Stream.runForEach(feed.stats), Effect.fork)
    const outcome = yield* run((line) => {
      if (BatchLine.isFailure(line)) feed.failure(failureOf(line))
    })
    yield* Fiber.interrupt(progress)
    yield* Effect.flatMap(manager.snapshot, feed.stats)
    yield* feed.done(outcome.stats, outcome.wallMillis)
    // Let the open pages receive the end before the server closes.
    yield* Effect.sleep("300 millis")
    return outcome
  }))
