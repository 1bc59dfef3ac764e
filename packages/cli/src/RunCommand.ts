/**
 * `fastllm run INPUT.jsonl [-o OUTPUT.jsonl]`: its options, their checks, and the handler that
 * builds the layers (provider, cache, RequestManager) and runs the file with `BatchFile.run`.
 *
 * @since 0.2.0
 */
import { Cache, RequestManager } from "@fastllm/core"
import { DiskCache } from "@fastllm/cache-disk"
import { OpenAiConfig } from "@fastllm/provider-openai"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AutoProvider from "./AutoProvider.js"
import * as BatchApiRun from "./BatchApiRun.js"
import * as BatchFile from "./BatchFile.js"
import * as ResponseSchema from "./ResponseSchema.js"
import { ConfigurationError, ItemsFailed } from "./CliError.js"
import * as View from "./View.js"

/**
 * Parses a duration: `30` (seconds), `500ms`, `30s`, `5m`, `2h`, `7d`, or Effect's `"30 seconds"`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (match !== null) {
    const value = Number(match[1])
    const unit = match[2] ?? "s"
    const millis = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : unit === "h" ? 3_600_000 : 86_400_000
    return Option.some(Duration.millis(value * millis))
  }
  const long = /^\s*(\d+(?:\.\d+)?)\s+(millis|seconds?|minutes?|hours?|days?|weeks?)\s*$/.exec(text)
  if (long !== null) return Option.some(Duration.decode(`${Number(long[1])} ${long[2]}` as Duration.DurationInput))
  return Option.none()
}

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

/** The disk cache, with an unusable path reported as a configuration error (exit 2). */
const diskCacheLayer = (path: string, timeToLive: Duration.Duration | undefined): Layer.Layer<Cache.Cache, ConfigurationError> =>
  DiskCache.layer(timeToLive === undefined ? { path } : { path, timeToLive }).pipe(
    Layer.mapError((e) => new ConfigurationError({ reason: `Cannot open the cache at ${path}: ${e.message}` }))
  )

const runOptions = {
  input: Args.file({ name: "INPUT.jsonl" }).pipe(
    Args.withDescription("JSONL file: OpenAI Batch API lines ({custom_id, method, url, body}) or bare request bodies")
  ),
  output: Options.file("output").pipe(
    Options.withPseudoName("PATH"),
    Options.withAlias("o"),
    Options.withDescription("Output JSONL (OpenAI Batch output format, input order); stdout when omitted"),
    Options.optional
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Maximum requests in flight"),
    Options.withDefault(64)
  ),
  rpm: Options.integer("rpm").pipe(Options.withPseudoName("N"), Options.withDescription("Requests-per-minute budget"), Options.optional),
  tpm: Options.integer("tpm").pipe(Options.withPseudoName("N"), Options.withDescription("Tokens-per-minute budget"), Options.optional),
  rateBurst: Options.text("rate-burst").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("How much of a rate limit may go at once (budgets are paced; default 1s)"),
    Options.optional
  ),
  window: Options.integer("window").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Items in progress at once (default 2 x concurrency)"),
    Options.optional
  ),
  noAdaptive: Options.boolean("no-adaptive-concurrency").pipe(
    Options.withDescription("Keep --concurrency fixed (default: cut it on bursts of 429s/timeouts, grow it back)")
  ),
  timeout: Options.text("timeout").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Timeout of each attempt: 30s, 2m, 500ms, or seconds"),
    Options.withDefault("60s")
  ),
  retries: Options.integer("retries").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Retries after the first attempt (retryable errors only)"),
    Options.withDefault(4)
  ),
  cache: Options.text("cache").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("Disk cache directory (default $FASTLLM_CACHE_DIR or ./.fastllm-cache)"),
    Options.optional
  ),
  noCache: Options.boolean("no-cache").pipe(Options.withDescription("Do not read or write the cache")),
  ttl: Options.text("ttl").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Expiry of the cache entries written: 7d, 12h, 30m ... (default: never)"),
    Options.optional
  ),
  baseUrl: Options.text("base-url").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription("OpenAI-compatible API base URL incl. /v1 (default $OPENAI_BASE_URL, else OpenAI)"),
    Options.optional
  ),
  model: Options.text("model").pipe(Options.withPseudoName("NAME"), Options.withDescription("Use this model for every request"), Options.optional),
  quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("No progress, no summary")),
  progress: Options.choice("progress", ["auto", "bar", "log", "none"]).pipe(
    Options.withDescription("Progress display: a bar on a terminal, a log line every few seconds otherwise"),
    Options.withDefault("auto")
  ),
  progressInterval: Options.text("progress-interval").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Time between progress updates (default 200ms for the bar, 5s for log lines)"),
    Options.optional
  ),
  responseSchema: ResponseSchema.option,
  statsJson: Options.text("stats-json").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("Write the final statistics as JSON to this file"),
    Options.optional
  ),
  ui: View.uiOption,
  ...BatchApiRun.runOptions
}

type RunArgs = {
  readonly [K in keyof typeof runOptions]: (typeof runOptions)[K] extends Options.Options<infer A> ? A
    : (typeof runOptions)[K] extends Args.Args<infer A> ? A
    : never
}

const readConfig = <A>(config: Config.Config<A>): Effect.Effect<A, ConfigurationError> =>
  Effect.mapError(config, (error) => new ConfigurationError({ reason: `Configuration: ${String(error)}` }))

/** The provider's settings: the environment (`OpenAiConfig`, the one reader) under the flags. */
const providerSettings = (args: Pick<RunArgs, "baseUrl">) =>
  Effect.gen(function*() {
    const env = yield* readConfig(OpenAiConfig.environment)
    const resolved = OpenAiConfig.resolve({ ...env, baseUrl: Option.getOrElse(args.baseUrl, () => env.baseUrl) })
    return yield* Either.isRight(resolved)
      ? Effect.succeed(resolved.right)
      : Effect.fail(new ConfigurationError({ reason: `Configuration: ${String(resolved.left)}` }))
  })

const invalid = (reason: string) => Effect.fail(new ConfigurationError({ reason }))

const durationOption = (name: string, text: string) =>
  Option.match(parseDuration(text), {
    onNone: () => invalid(`--${name} ${JSON.stringify(text)} is not a duration (try 30s, 5m, 2h, 7d)`),
    onSome: Effect.succeed
  })

const positive = (name: string, value: number) =>
  value >= 1 ? Effect.succeed(value) : invalid(`--${name} must be at least 1, got ${value}`)

/**
 * The handler of `fastllm run`.
 *
 * @since 0.1.0
 * @category commands
 */
export const runHandler = (args: RunArgs) =>
  Effect.gen(function*() {
    const concurrency = yield* positive("concurrency", args.concurrency)
    if (args.retries < 0) return yield* invalid(`--retries must be 0 or more, got ${args.retries}`)
    const rpm = Option.isSome(args.rpm) ? yield* positive("rpm", args.rpm.value) : undefined
    const tpm = Option.isSome(args.tpm) ? yield* positive("tpm", args.tpm.value) : undefined
    const burst = Option.isSome(args.rateBurst) ? yield* durationOption("rate-burst", args.rateBurst.value) : undefined
    const window = Option.isSome(args.window) ? yield* positive("window", args.window.value) : undefined
    const timeout = yield* durationOption("timeout", args.timeout)
    const ttl = Option.isSome(args.ttl) ? yield* durationOption("ttl", args.ttl.value) : undefined
    const progressInterval = Option.isSome(args.progressInterval)
      ? yield* durationOption("progress-interval", args.progressInterval.value)
      : undefined
    const settings = yield* providerSettings(args)
    const cachePath = Option.isSome(args.cache) ? args.cache.value : yield* readConfig(defaultCacheDirectory)
    const log = (text: string) => void process.stderr.write(text)
    const output = Option.getOrUndefined(args.output)
    // Fail on an unreadable input or unwritable output before starting anything.
    const prepared = yield* BatchFile.prepare({ input: args.input, output })
    const responseSchema = Option.isSome(args.responseSchema) ? yield* ResponseSchema.load(args.responseSchema.value) : undefined

    const cacheLayer: Layer.Layer<Cache.Cache, ConfigurationError> = args.noCache
      ? Cache.none
      : diskCacheLayer(cachePath, ttl)
    const providerLayer = AutoProvider.layer({
      ...settings,
      connections: concurrency,
      announce: (line) => log(line + "\n")
    })
    const managerLayer = RequestManager.layer({
      concurrency,
      maxRetries: args.retries,
      timeout,
      requestsPerMinute: rpm,
      tokensPerMinute: tpm,
      burst,
      window,
      adaptiveConcurrency: !args.noAdaptive,
      timeToLive: ttl,
      cache: !args.noCache
    }).pipe(Layer.provide(Layer.merge(providerLayer, cacheLayer)))

    const progress: BatchFile.ProgressMode = args.quiet
      ? "none"
      : args.progress === "auto"
      ? (process.stderr.isTTY ? "bar" : "log")
      : args.progress
    if (args.batchApi) {
      const batchSize = yield* positive("batch-size", args.batchSize)
      const pollInterval = yield* durationOption("poll-interval", args.pollInterval)
      const outcome = yield* BatchApiRun.fromCommandLine(args, {
        settings, cachePath, ttl, output, progress, log, cacheLayer, batchSize, pollInterval,
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
      runner: responseSchema && ResponseSchema.runner(responseSchema, args.quiet ? undefined : log)
    })).pipe(
      Effect.provide(managerLayer),
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
    if (outcome.failed > 0) return yield* new ItemsFailed({ failed: outcome.failed, total: outcome.lines })
  })

/**
 * The `run` command, for `Command.withSubcommands`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("run", runOptions, runHandler).pipe(
  Command.withDescription(
    "Run every request of a JSONL file (chat completions and embeddings) and write the answers as JSONL, " +
      "in input order. Answers are cached: rerunning after a crash only sends what is missing. " +
      "Env: OPENAI_API_KEY, OPENAI_BASE_URL; with neither, a built-in local test server answers."
  )
)

