/**
 * The engine's options, one definition shared by `fastllm run` and `fastllm worker`: concurrency,
 * budgets and their pacing, the window, adaptive concurrency, timeout, retries, cost budget and
 * prices, cache expiry, and the provider (base URL, Azure, extra headers); with the readers that
 * turn them into provider settings and RequestManager options.
 *
 * @since 0.2.0
 */
import type { RequestManager } from "@fastllm/core"
import * as OpenAiConfig from "@fastllm/provider-openai/OpenAiConfig"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { ConfigurationError } from "./CliError.js"
import * as EstimateCommand from "./EstimateCommand.js"
import * as Flags from "./Flags.js"
import * as HeaderFlag from "./HeaderFlag.js"

/**
 * Every engine and provider option `run` and `worker` both take.
 *
 * @since 0.2.0
 * @category options
 */
export const options = {
  concurrency: Flags.integerWithDefault("concurrency", { description: "Maximum requests in flight", min: 1, fallback: 64 }),
  rpm: Flags.integer("rpm", { description: "Requests-per-minute budget (default: none; global for a --redis Redis)", min: 1 })
    .pipe(Options.optional),
  tpm: Flags.integer("tpm", { description: "Tokens-per-minute budget (default: none; global for a --redis Redis)", min: 1 })
    .pipe(Options.optional),
  rateBurst: Flags.duration("rate-burst", {
    description: "How much of a rate limit may go at once (budgets are paced)",
    fallback: "1s"
  }).pipe(Options.optional),
  window: Flags.integer("window", { description: "Items in progress at once (default: 2 x concurrency)", min: 1 }).pipe(
    Options.optional
  ),
  noAdaptive: Options.boolean("no-adaptive-concurrency").pipe(
    Options.withDescription("Keep --concurrency fixed (default: steer it by the throughput it buys, cut it on bursts of 429s/timeouts)")
  ),
  timeout: Flags.duration("timeout", { description: "Timeout of each attempt: 30s, 2m, 500ms, or seconds", fallback: "60s" }).pipe(
    Options.withDefault(Duration.seconds(60))
  ),
  retries: Flags.integerWithDefault("retries", {
    description: "Retries after the first attempt (retryable errors only)",
    min: 0,
    fallback: 4
  }),
  ttl: Flags.duration("ttl", { description: "Expiry of the cache entries written: 7d, 12h, 30m ...", fallback: "never" }).pipe(
    Options.optional
  ),
  maxCost: Options.float("max-cost").pipe(
    Options.withPseudoName("USD"),
    Options.withDescription(
      "Cost budget in US dollars (per process): no call is sent once the next would not fit (spent + in flight + its " +
        "estimate); the rest fail with error code budget_exceeded (exit 1) and a rerun with a larger budget continues " +
        "from the cache"
    ),
    Options.optional
  ),
  price: EstimateCommand.priceOption,
  baseUrl: Options.text("base-url").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription(
      "OpenAI-compatible API base URL, including /v1 (default: $OPENAI_BASE_URL, else https://api.openai.com/v1)"
    ),
    Options.optional
  ),
  azureEndpoint: Options.text("azure-endpoint").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription(
      "Azure OpenAI resource, e.g. https://NAME.openai.azure.com: key from $AZURE_OPENAI_API_KEY sent as api-key, " +
        "requests to /openai/deployments/{model}/... (default: $AZURE_OPENAI_ENDPOINT)"
    ),
    Options.optional
  ),
  apiVersion: Options.text("api-version").pipe(
    Options.withPseudoName("VERSION"),
    Options.withDescription("Azure OpenAI api-version, e.g. 2024-10-21 (default: $OPENAI_API_VERSION)"),
    Options.optional
  ),
  header: Options.text("header").pipe(
    Options.withPseudoName("NAME=VALUE"),
    Options.withDescription(
      "Extra request header, repeatable (e.g. for a gateway). Values that look secret (authorization, key, token, " +
        "cookie... headers; Bearer/sk- values) are redacted like the API key"
    ),
    Options.repeated,
    Options.mapEffect((texts) =>
      Effect.forEach(texts, (text) =>
        Either.match(HeaderFlag.parse(text), {
          onLeft: (reason) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(reason))),
          onRight: Effect.succeed
        }))
    )
  )
}

/**
 * The parsed values of {@link options}.
 *
 * @since 0.2.0
 * @category models
 */
export type Args = {
  readonly [K in keyof typeof options]: (typeof options)[K] extends Options.Options<infer A> ? A : never
}

/**
 * The provider's settings: the environment (`OpenAiConfig`, the one reader) under the flags.
 *
 * @since 0.2.0
 * @category constructors
 */
export const providerSettings = (args: Pick<Args, "baseUrl" | "azureEndpoint" | "apiVersion" | "header">) =>
  Effect.gen(function*() {
    const env = yield* Effect.mapError(
      OpenAiConfig.environment,
      (error) => new ConfigurationError({ reason: `Configuration: ${String(error)}` })
    )
    const resolved = OpenAiConfig.resolve({
      ...env,
      baseUrl: Option.getOrElse(args.baseUrl, () => env.baseUrl),
      azureEndpoint: Option.getOrElse(args.azureEndpoint, () => env.azureEndpoint),
      apiVersion: Option.getOrElse(args.apiVersion, () => env.apiVersion)
    })
    if (Either.isLeft(resolved)) {
      return yield* new ConfigurationError({ reason: `Configuration: ${String(resolved.left)}` })
    }
    const headers = args.header.length === 0 ? undefined : Object.fromEntries(args.header)
    return { ...resolved.right, headers }
  })

/**
 * The RequestManager's options from {@link options} (checked: a `--max-cost` of 0 or less, or a
 * `--price` that does not parse, is a `ConfigurationError`). `cache` and the budgets' values
 * (`rpm`, `tpm`: a worker may read them from Redis) are the caller's.
 *
 * @since 0.2.0
 * @category constructors
 */
export const managerOptions = (
  args: Omit<Args, "baseUrl" | "azureEndpoint" | "apiVersion" | "header">,
  overrides: { readonly cache: boolean; readonly requestsPerMinute?: number | undefined; readonly tokensPerMinute?: number | undefined }
): Effect.Effect<RequestManager.Options, ConfigurationError> =>
  Effect.gen(function*() {
    if (Option.isSome(args.maxCost) && !(args.maxCost.value > 0)) {
      return yield* new ConfigurationError({ reason: `--max-cost must be more than 0 US dollars, got ${args.maxCost.value}` })
    }
    const prices = yield* EstimateCommand.parsePrices(args.price)
    return {
      maxCost: Option.getOrUndefined(args.maxCost),
      prices,
      concurrency: args.concurrency,
      maxRetries: args.retries,
      timeout: args.timeout,
      requestsPerMinute: "requestsPerMinute" in overrides ? overrides.requestsPerMinute : Option.getOrUndefined(args.rpm),
      tokensPerMinute: "tokensPerMinute" in overrides ? overrides.tokensPerMinute : Option.getOrUndefined(args.tpm),
      burst: Option.getOrUndefined(args.rateBurst),
      window: Option.getOrUndefined(args.window),
      adaptiveConcurrency: !args.noAdaptive,
      timeToLive: Option.getOrUndefined(args.ttl),
      cache: overrides.cache
    }
  })
