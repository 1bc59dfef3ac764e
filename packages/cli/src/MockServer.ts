/**
 * `fastllm mock-server`: the OpenAI-compatible test server from `@fastllm/testing`, standalone, with
 * its latency, rate limits and faults set from the command line.
 *
 * @since 0.1.0
 */
import { TestServer } from "@fastllm/testing"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const share = (name: string, description: string) =>
  Options.float(name).pipe(Options.withDescription(`Share of requests (0..1) that ${description}`), Options.optional)

/**
 * The command's options.
 *
 * @since 0.1.0
 * @category commands
 */
export const options = {
  port: Options.integer("port").pipe(
    Options.withDescription("Port on 127.0.0.1 (0 picks a free one)"),
    Options.withDefault(8787)
  ),
  apiKey: Options.text("api-key").pipe(
    Options.withDescription("Require Authorization: Bearer KEY (else 401)"),
    Options.optional
  ),
  models: Options.text("models").pipe(
    Options.withDescription("Comma-separated models that exist (others answer 404 model_not_found)"),
    Options.optional
  ),
  latency: Options.integer("latency").pipe(
    Options.withDescription("Latency of successful replies, ms"),
    Options.withDefault(0)
  ),
  latencyMax: Options.integer("latency-max").pipe(
    Options.withDescription("Random latency in [--latency, --latency-max] ms"),
    Options.optional
  ),
  latencyPerToken: Options.float("latency-per-token").pipe(
    Options.withDescription("Extra latency per output token, ms"),
    Options.optional
  ),
  rpm: Options.integer("rpm").pipe(Options.withDescription("Requests-per-minute limit"), Options.optional),
  tpm: Options.integer("tpm").pipe(Options.withDescription("Tokens-per-minute limit"), Options.optional),
  insufficientQuota: Options.boolean("insufficient-quota").pipe(
    Options.withDescription("Answer every request with 429 insufficient_quota")
  ),
  seed: Options.integer("seed").pipe(Options.withDescription("Seed of the fault generator"), Options.optional),
  serverError: share("server-error", "get a 500/502/503"),
  rateLimit: share("rate-limit", "get a 429 with retry-after"),
  reset: share("reset", "have their connection reset"),
  hang: share("hang", "never get an answer"),
  slowBody: share("slow-body", "get their body slowly"),
  malformed: share("malformed", "get a 200 whose body is not JSON"),
  truncated: share("truncated", "get a truncated body"),
  dimensions: Options.integer("dimensions").pipe(
    Options.withDescription("Embedding size when a request sets none"),
    Options.optional
  )
}

/**
 * The parsed options.
 *
 * @since 0.1.0
 * @category models
 */
export type Args = {
  readonly [K in keyof typeof options]: (typeof options)[K] extends Options.Options<infer A> ? A : never
}

/**
 * Turns the command's options into the server's.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toServerOptions = (args: Args): TestServer.Options => {
  const faults: { -readonly [K in keyof TestServer.Faults]: TestServer.Faults[K] } = {}
  const shares = {
    serverError: args.serverError,
    rateLimit: args.rateLimit,
    reset: args.reset,
    hang: args.hang,
    slowBody: args.slowBody,
    malformed: args.malformed,
    truncated: args.truncated
  }
  for (const [kind, value] of Object.entries(shares) as Array<[keyof typeof shares, Option.Option<number>]>) {
    if (Option.isSome(value)) faults[kind] = value.value
  }
  if (Option.isSome(args.seed)) faults.seed = args.seed.value
  const latency: { minMs: number; maxMs?: number; perOutputTokenMs?: number } = { minMs: args.latency }
  if (Option.isSome(args.latencyMax)) latency.maxMs = args.latencyMax.value
  if (Option.isSome(args.latencyPerToken)) latency.perOutputTokenMs = args.latencyPerToken.value
  const server: { -readonly [K in keyof TestServer.Options]: TestServer.Options[K] } = {
    port: args.port,
    latency,
    faults
  }
  if (Option.isSome(args.apiKey)) server.apiKey = args.apiKey.value
  if (Option.isSome(args.models)) server.models = args.models.value.split(",").map((m) => m.trim()).filter((m) => m !== "")
  if (Option.isSome(args.rpm)) server.requestsPerMinute = args.rpm.value
  if (Option.isSome(args.tpm)) server.tokensPerMinute = args.tpm.value
  if (args.insufficientQuota) server.insufficientQuota = true
  if (Option.isSome(args.dimensions)) server.embeddingDimensions = args.dimensions.value
  return server
}

/**
 * Serves until interrupted (Ctrl-C): one JSON line `{"url", "port"}` on stdout for scripts, one
 * line for people on stderr.
 *
 * @since 0.1.0
 * @category commands
 */
export const handler = (args: Args): Effect.Effect<void> =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* TestServer.make(toServerOptions(args))
    process.stdout.write(JSON.stringify({ url: server.url, port: server.port }) + "\n")
    process.stderr.write(
      `fastllm mock-server: OpenAI-compatible test server at ${server.url} (Ctrl-C to stop). ` +
        `Try: OPENAI_BASE_URL=${server.url} fastllm run requests.jsonl\n`
    )
    return yield* Effect.never
  }))
