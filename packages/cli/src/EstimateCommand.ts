/**
 * `fastllm estimate INPUT.jsonl`: what a run of the file would cost and how long it would take,
 * sending nothing. Prompt tokens are counted with OpenAI's tokenizer (characters / 4 for other
 * vendors' models), outputs assumed from `max_tokens` (or `--output-tokens`), the cache's answers
 * subtracted, priced online and through the Batch API, timed under `--rpm` / `--tpm`.
 *
 * @since 0.2.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import { Cache, Cost, type Estimate } from "@fastllm/core"
import * as OpenAiConfig from "@fastllm/provider-openai/OpenAiConfig"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as AutoProvider from "./AutoProvider.js"
import * as BatchFile from "./BatchFile.js"
import * as BatchLine from "./BatchLine.js"
import { ConfigurationError } from "./CliError.js"
import * as NumberFormat from "./internal/numberFormat.js"

/**
 * Reads `--price MODEL=INPUT,OUTPUT[,CACHED_INPUT]` values (US dollars per million tokens).
 *
 * @since 0.2.0
 * @category parsing
 */
export const parsePrices = (values: ReadonlyArray<string>): Effect.Effect<Cost.Prices, ConfigurationError> =>
  Effect.forEach(values, (value) => {
    const at = value.lastIndexOf("=")
    const price = at > 0 ? Cost.parsePrice(value.slice(at + 1)) : undefined
    return price === undefined
      ? Effect.fail(
        new ConfigurationError({
          reason: `--price ${JSON.stringify(value)} is not MODEL=INPUT,OUTPUT (US dollars per million tokens, e.g. gpt-4o-mini=0.15,0.6)`
        })
      )
      : Effect.succeed([value.slice(0, at), price] as const)
  }).pipe(Effect.map((entries) => Object.fromEntries(entries)))

/**
 * The `--price` option, shared by `run` and `estimate`.
 *
 * @since 0.2.0
 * @category options
 */
export const priceOption = Options.text("price").pipe(
  Options.withPseudoName("MODEL=IN,OUT"),
  Options.withDescription(
    "Price of a model in US dollars per million tokens, input and output (and cached input): adds to or overrides " +
      "the built-in table (@pydantic/genai-prices). Repeatable."
  ),
  Options.repeated
)

const options = {
  input: Args.file({ name: "INPUT.jsonl", exists: "yes" }).pipe(
    Args.withDescription("JSONL file: OpenAI Batch API lines or bare request bodies (as for run)")
  ),
  batchApi: Options.boolean("batch-api").pipe(Options.withDescription("Lead with the Batch API's price (half the online price)")),
  rpm: Options.integer("rpm").pipe(Options.withPseudoName("N"), Options.withDescription("Requests per minute, to say how long it takes"), Options.optional),
  tpm: Options.integer("tpm").pipe(Options.withPseudoName("N"), Options.withDescription("Tokens per minute, to say how long it takes"), Options.optional),
  outputTokens: Options.integer("output-tokens").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Output tokens assumed per answer for requests without max_tokens (default 256)"),
    Options.optional
  ),
  model: Options.text("model").pipe(Options.withPseudoName("NAME"), Options.withDescription("Price every request as this model (as run --model)"), Options.optional),
  baseUrl: Options.text("base-url").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription("The server the run would use (its answers in the cache are subtracted); default $OPENAI_BASE_URL"),
    Options.optional
  ),
  cache: Options.text("cache").pipe(Options.withPseudoName("PATH"), Options.withDescription("Disk cache directory (as for run)"), Options.optional),
  noCache: Options.boolean("no-cache").pipe(Options.withDescription("Do not subtract cached answers")),
  price: priceOption,
  json: Options.boolean("json").pipe(Options.withDescription("Print the estimate as JSON"))
}

const integer = NumberFormat.lazy({ maximumFractionDigits: 0 })

const minutesText = (minutes: number | undefined): string => {
  if (minutes === undefined) return "no --rpm/--tpm given"
  if (minutes < 1) return `${Math.ceil(minutes * 60)} s`
  if (minutes < 120) return `${minutes.toFixed(1)} min`
  return `${(minutes / 60).toFixed(1)} h`
}

/**
 * The estimate as a person reads it.
 *
 * @since 0.2.0
 * @category formatting
 */
export const format = (estimate: Estimate.Estimate, batchApi: boolean): string => {
  const send = estimate.toSend
  const lines = [
    `Items: ${integer.format(estimate.items)} (${integer.format(estimate.cached)} already cached, ` +
    `${integer.format(estimate.invalid)} invalid, ${integer.format(send.requests)} to send)`,
    `Tokens to send: prompt ${integer.format(send.promptTokens)} ` +
    `(${integer.format(estimate.tokenizedRequests)} requests counted with OpenAI's tokenizer, the rest as characters / 4), ` +
    `output up to ${integer.format(send.outputTokens)}`,
    `Cost online:    ${Cost.format(send.online)}${batchApi ? "" : "   <-"}`,
    `Cost Batch API: ${Cost.format(send.batch)}${batchApi ? "   <-" : ""}`
  ]
  const models = Object.entries(estimate.byModel).sort(([a], [b]) => a.localeCompare(b))
  if (models.length > 1) {
    for (const [model, totals] of models) {
      lines.push(`  ${model}: ${integer.format(totals.requests)} requests, ${Cost.format(batchApi ? totals.batch : totals.online)}`)
    }
  }
  lines.push(`Time: at least ${minutesText(estimate.minutes)}`)
  const unpriced = send.online.unpricedItems
  if (unpriced > 0) {
    const names = models.filter(([, totals]) => totals.online.unpricedItems > 0).map(([model]) => model)
    lines.push(`No price for ${names.join(", ")}: give one with --price MODEL=INPUT,OUTPUT`)
  }
  return lines.join("\n")
}

/**
 * The handler of `fastllm estimate`.
 *
 * @since 0.2.0
 * @category commands
 */
export const handler = (args: {
  readonly input: string
  readonly batchApi: boolean
  readonly rpm: Option.Option<number>
  readonly tpm: Option.Option<number>
  readonly outputTokens: Option.Option<number>
  readonly model: Option.Option<string>
  readonly baseUrl: Option.Option<string>
  readonly cache: Option.Option<string>
  readonly noCache: boolean
  readonly price: ReadonlyArray<string>
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    // The estimator (tokenizer), the provider and the disk cache are imported when an estimate
    // runs, not when the command starts (`npx tsx bench/startup.ts`: `fastllm --help`).
    const [Estimate, OpenAiProvider, DiskCache] = yield* Effect.promise(() =>
      Promise.all([
        import("@fastllm/core/Estimate"),
        import("@fastllm/provider-openai/OpenAiProvider"),
        import("@fastllm/cache-disk/DiskCache")
      ])
    )
    const prices = yield* parsePrices(args.price)
    const env = yield* OpenAiConfig.environment.pipe(
      Effect.mapError((e) => new ConfigurationError({ reason: `Configuration: ${e.message}` }))
    )
    // The provider name the run would use: its cached answers are the ones subtracted.
    const baseUrl = Option.getOrElse(args.baseUrl, () => env.baseUrl)
    const providerName = baseUrl !== undefined
      ? OpenAiProvider.nameFor(baseUrl)
      : env.apiKey !== undefined
      ? OpenAiProvider.nameFor(OpenAiProvider.defaultBaseUrl)
      : AutoProvider.localServerName
    const cachePath = Option.isSome(args.cache) ? args.cache.value : process.env["FASTLLM_CACHE_DIR"] ?? ".fastllm-cache"
    const fs = yield* FileSystem.FileSystem
    const cacheLayer: Layer.Layer<Cache.Cache, ConfigurationError> = args.noCache || !(yield* fs.exists(cachePath).pipe(Effect.orElseSucceed(() => false)))
      ? Cache.none
      : DiskCache.layer({ path: cachePath }).pipe(
        Layer.mapError((e) => new ConfigurationError({ reason: `Cannot open the cache at ${cachePath}: ${e.message}` }))
      )
    const model = Option.getOrUndefined(args.model)
    const inputs = fs.stream(args.input, { chunkSize: 256 * 1024 }).pipe(
      Stream.mapError((e) => new ConfigurationError({ reason: `Cannot read input ${args.input}: ${e.message}` })),
      BatchFile.utf8Lines,
      Stream.zipWithIndex,
      Stream.filter(([decoded]) => decoded.text.trim() !== ""),
      Stream.map(([decoded, index]) => {
        const parsed = BatchLine.parse(decoded.text.replace(/^\uFEFF/, ""), index + 1, { model })
        return parsed._tag === "Request" ? parsed.input : null
      })
    )
    const estimate = yield* Estimate.stream(inputs, {
      prices,
      providerName,
      outputTokens: Option.getOrUndefined(args.outputTokens),
      requestsPerMinute: Option.getOrUndefined(args.rpm),
      tokensPerMinute: Option.getOrUndefined(args.tpm)
    }).pipe(Effect.provide(cacheLayer))
    process.stdout.write((args.json ? JSON.stringify(estimate, null, 2) : format(estimate, args.batchApi)) + "\n")
  })

/**
 * `fastllm estimate INPUT.jsonl`.
 *
 * @since 0.2.0
 * @category commands
 */
export const command = Command.make("estimate", options, handler).pipe(
  Command.withDescription(
    "Estimate what running a JSONL file would cost (online and through the Batch API) and how long it would take " +
      "under --rpm/--tpm, without sending anything. Answers already in the cache are subtracted."
  )
)
