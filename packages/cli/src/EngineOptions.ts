/**
 * The engine's options, shared by `fastllm run` and `fastllm worker`: concurrency, budgets,
 * timeout, retries, cache expiry and the API's base URL.
 *
 * @since 0.2.0
 */
import * as Options from "@effect/cli/Options"

/**
 * `--concurrency`, `--rpm`, `--tpm`, `--timeout`, `--retries`.
 *
 * @since 0.2.0
 * @category options
 */
export const limits = {
  concurrency: Options.integer("concurrency").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Maximum requests in flight"),
    Options.withDefault(64)
  ),
  rpm: Options.integer("rpm").pipe(Options.withPseudoName("N"), Options.withDescription("Requests-per-minute budget (global for a --redis Redis)"), Options.optional),
  tpm: Options.integer("tpm").pipe(Options.withPseudoName("N"), Options.withDescription("Tokens-per-minute budget (global for a --redis Redis)"), Options.optional),
  timeout: Options.text("timeout").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription("Timeout of each attempt: 30s, 2m, 500ms, or seconds"),
    Options.withDefault("60s")
  ),
  retries: Options.integer("retries").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("Retries after the first attempt (retryable errors only)"),
    Options.withDefault(4)
  )
}

/**
 * `--ttl`: expiry of the cache entries written.
 *
 * @since 0.2.0
 * @category options
 */
export const ttl = Options.text("ttl").pipe(
  Options.withPseudoName("DURATION"),
  Options.withDescription("Expiry of the cache entries written: 7d, 12h, 30m ... (default: never)"),
  Options.optional
)

/**
 * `--base-url`: the OpenAI-compatible API.
 *
 * @since 0.2.0
 * @category options
 */
export const baseUrl = Options.text("base-url").pipe(
  Options.withPseudoName("URL"),
  Options.withDescription("OpenAI-compatible API base URL incl. /v1 (default $OPENAI_BASE_URL, else OpenAI)"),
  Options.optional
)
