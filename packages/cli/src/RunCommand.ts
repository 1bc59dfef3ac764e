/**
 * `fastllm run INPUT.jsonl [-o OUTPUT.jsonl]`: its options, their checks, and the handler that
 * builds the layers (provider, cache, RequestManager) and runs the file with `BatchFile.run`.
 *
 * @since 0.2.0
 */
import { Cache, RequestManager } from "@fastllm/core"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AutoProvider from "./AutoProvider.js"
import type * as BatchApiRun from "./BatchApiRun.js"
import * as batchApiOptions from "./internal/batchApiOptions.js"
import * as BatchFile from "./BatchFile.js"
import * as ResponseSchema from "./ResponseSchema.js"
import * as EngineOptions from "./EngineOptions.js"
import * as Telemetry from "./Telemetry.js"
import { ConfigurationError, ItemsFailed } from "./CliError.js"
import * as View from "./View.js"
import * as Flags from "./Flags.js"
import * as OutputLock from "./OutputLock.js"
import * as Preflight from "./Preflight.js"
import * as RedisJob from "./RedisJob.js"
import * as RedisRun from "./RedisRun.js"

/**
 * The default cache directory: `$FASTLLM_CACHE_DIR`, else `.fastllm-cache` in the current
 * directory (next to the data it answers, so a rerun from the same place resumes, and one
 * `rm -r` forgets it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultCacheDirectory: Config.Config<string> = Config.string("FASTLLM_CACHE_DIR").pipe(
  Config.withDefault(".fastllm-cache")
)

/**
 * The disk cache, with an unusable path reported as a configuration error (exit 2). Its module
 * (and lmdb's native addon) is imported when the layer is built, as the Batch API mode's below:
 * the other commands and `--help` never load them (`npx tsx bench/startup.ts`).
 */
const diskCacheLayer = (path: string, timeToLive: Duration.Duration | undefined): Layer.Layer<Cache.Cache, ConfigurationError> =>
  Layer.unwrapEffect(Effect.map(Effect.promise(() => import("@fastllm/cache-disk/DiskCache")), (DiskCache) =>
    DiskCache.layer(timeToLive === undefined ? { path } : { path, timeToLive }).pipe(
      Layer.mapError((e) => new ConfigurationError({ reason: `Cannot open the cache at ${path}: ${e.message}` }))
    )))

const loadBatchApiRun: Effect.Effect<typeof BatchApiRun> = Effect.promise(() => import("./BatchApiRun.js"))

const runOptions = {
  input: Args.text({ name: "INPUT.jsonl" }).pipe(
    Args.withDescription(
      "JSONL file: OpenAI Batch API lines ({custom_id, method, url, body}) or bare request bodies. " +
        "`-` (or /dev/stdin, a pipe) reads standard input: no ETA, and resuming after a crash needs the same lines piped in again"
    )
  ),
  output: Options.text("output").pipe(
    Options.withPseudoName("PATH"),
    Options.withAlias("o"),
    Options.withDescription(
      "Output JSONL (OpenAI Batch output format, input order), written as PATH.partial and renamed at the end; " +
        "one run at a time per PATH (PATH.lock) (default: stdout)"
    ),
    Options.optional
  ),
  ...EngineOptions.options,
  cache: Options.text("cache").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("Disk cache directory (default: $FASTLLM_CACHE_DIR, else ./.fastllm-cache)"),
    Options.optional
  ),
  noCache: Options.boolean("no-cache").pipe(Options.withDescription("Do not read or write the cache")),
  model: Options.text("model").pipe(Options.withPseudoName("NAME"), Options.withDescription("Use this model for every request"), Options.optional),
  quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("No progress, no summary")),
  progress: Options.choice("progress", ["auto", "bar", "log", "none"]).pipe(
    Options.withDescription(
      "Progress display: auto is a bar on a terminal, a log line every few seconds otherwise (default: auto)"
    ),
    Options.withDefault("auto")
  ),
  progressInterval: Flags.duration("progress-interval", {
    description: "Time between progress updates",
    fallback: "200ms for the bar, 5s for log lines"
  }).pipe(Options.optional),
  responseSchema: ResponseSchema.option,
  statsJson: Options.text("stats-json").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("Write the final statistics as JSON to this file"),
    Options.optional
  ),
  ui: View.uiOption,
  ...batchApiOptions.runOptions,
  ...RedisJob.runOptions
}

type RunArgs = {
  readonly [K in keyof typeof runOptions]: (typeof runOptions)[K] extends Options.Options<infer A> ? A
    : (typeof runOptions)[K] extends Args.Args<infer A> ? A
    : never
}

const readConfig = <A>(config: Config.Config<A>): Effect.Effect<A, ConfigurationError> =>
  Effect.mapError(config, (error) => new ConfigurationError({ reason: `Configuration: ${String(error)}` }))

const providerSettings = EngineOptions.providerSettings

/** "does the base URL need /v1?": for a base URL given without a version path. */
const notFoundHint = (settings: { readonly baseUrl?: string | undefined; readonly azure?: unknown }) => {
  if (settings.baseUrl === undefined || settings.azure !== undefined) return undefined
  const path = URL.canParse(settings.baseUrl) ? new URL(settings.baseUrl).pathname : settings.baseUrl
  return /\/v\d+[a-z]*\/?$/.test(path)
    ? undefined
    : "the server answered 404 for {path}: does the base URL need /v1? (e.g. --base-url " +
      `${settings.baseUrl.replace(/\/+$/, "")}/v1)`
}

const invalid = (reason: string) => Effect.fail(new ConfigurationError({ reason }))

const durationOption = (name: string, text: string) =>
  Option.match(Flags.parseDuration(text), {
    onNone: () => invalid(`--${name} ${JSON.stringify(text)} is not a duration (try 30s, 5m, 2h, 7d)`),
    onSome: Effect.succeed
  })

const positive = (name: string, value: number) =>
  value >= 1 ? Effect.succeed(value) : invalid(`--${name} must be at least 1, got ${value}`)

/**
 * Checks every path the run writes before the first request: the input is readable, the
 * `--stats-json` file and the cache directory writable; then takes the output's lock.
 */
const setUp = (args: RunArgs, cachePath: string | undefined) =>
  Effect.gen(function*() {
    const output = Option.getOrUndefined(args.output)
    const prepared = yield* BatchFile.prepare({ input: args.input, output })
    if (output !== undefined) yield* Preflight.writableFile(output, "Cannot write output")
    if (Option.isSome(args.statsJson)) yield* Preflight.writableFile(args.statsJson.value, "Cannot write stats")
    if (cachePath !== undefined) yield* Preflight.writableDirectory(cachePath, "Cannot use the cache at")
    if (output !== undefined) yield* OutputLock.acquire(output)
    return prepared
  })

/**
 * The handler of `fastllm run`.
 *
 * @since 0.1.0
 * @category commands
 */
export const runHandler = (args: RunArgs) =>
  Effect.scoped(Effect.gen(function*() {
    if (Option.isSome(args.redis)) return yield* RedisRun.run({ ...args, redis: args.redis.value })
    const concurrency = args.concurrency
    const ttl = Option.getOrUndefined(args.ttl)
    const progressInterval = Option.getOrUndefined(args.progressInterval)
    const settings = yield* providerSettings(args)
    const cacheDirectory = Option.isSome(args.cache) ? args.cache.value : yield* readConfig(defaultCacheDirectory)
    const cachePath = args.noCache ? undefined : cacheDirectory
    const log = (text: string) => void process.stderr.write(text)
    const output = Option.getOrUndefined(args.output)
    // Nothing is sent before every path is checked and the output is ours.
    const prepared = yield* setUp(args, cachePath)
    const responseSchema = Option.isSome(args.responseSchema) ? yield* ResponseSchema.load(args.responseSchema.value) : undefined

    const cacheLayer: Layer.Layer<Cache.Cache, ConfigurationError> = cachePath === undefined
      ? Cache.none
      : diskCacheLayer(cachePath, ttl)
    const providerLayer = AutoProvider.layer({
      ...settings,
      connections: concurrency,
      announce: (line) => log(line + "\n")
    })
    const managerLayer = RequestManager.layer(yield* EngineOptions.managerOptions(args, { cache: !args.noCache })).pipe(
      Layer.provide(Layer.merge(providerLayer, cacheLayer))
    )

    const progress: BatchFile.ProgressMode = args.quiet
      ? "none"
      : args.progress === "auto"
      ? (process.stderr.isTTY ? "bar" : "log")
      : args.progress
    if (args.batchApi) {
      const batchSize = yield* positive("batch-size", args.batchSize)
      const pollInterval = yield* durationOption("poll-interval", args.pollInterval)
      const outcome = yield* (yield* loadBatchApiRun).fromCommandLine(args, {
        settings, cachePath: cacheDirectory, ttl, output, progress, log, cacheLayer, batchSize, pollInterval,
        progressIntervalMillis: progressInterval === undefined ? undefined : Math.max(50, Duration.toMillis(progressInterval))
      })
      if (outcome.failed > 0) return yield* new ItemsFailed({ failed: outcome.failed, total: outcome.lines })
      return
    }
    const ui = { enabled: args.ui, input: args.input, output, concurrency }
    const outcome = yield* View.runWithUi(ui, (onLine) =>
      BatchFile.run({
      onLine,
      input: args.input,
      output,
      prepared,
      model: Option.getOrUndefined(args.model),
      progress,
      progressIntervalMillis: progressInterval === undefined ? undefined : Math.max(50, Duration.toMillis(progressInterval)),
      summary: !args.quiet,
      statsJson: Option.getOrUndefined(args.statsJson),
      log,
      runner: responseSchema && ResponseSchema.runner(responseSchema, args.quiet ? undefined : log),
      notFoundHint: notFoundHint(settings)
    })).pipe(
      Effect.provide(managerLayer),
      Effect.provide(Telemetry.layer),
      Effect.onInterrupt(() =>
        Effect.sync(() =>
          log(
            args.noCache
              ? "\nfastllm: interrupted (--no-cache: a rerun starts over).\n"
              : "\nfastllm: interrupted. The answers received so far are cached: rerun the same command to resume.\n"
          )
        )
      )
    )
    if (outcome.failed > 0) {
      return yield* new ItemsFailed({ failed: outcome.failed, total: outcome.lines, cached: !args.noCache })
    }
  }))

/**
 * The `run` command, for `Command.withSubcommands`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("run", runOptions, runHandler).pipe(
  Command.withDescription(
    "Run every request of a JSONL file (chat completions and embeddings) and write the answers as JSONL, " +
      "in input order. Answers are cached: rerunning after a crash only sends what is missing " +
      "(for input from stdin, pipe the same lines in again). " +
      "Env: OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID, OPENAI_TIMEOUT; Azure: AZURE_OPENAI_API_KEY, " +
      "AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION; HTTPS_PROXY, HTTP_PROXY, NO_PROXY. " +
      "With no key and no base URL, a built-in local test server answers. " +
      "Exit codes: 0 all succeeded, 1 some items failed, 2 usage or configuration error (nothing sent), " +
      "130 interrupted, 141 stdout closed."
  )
)

