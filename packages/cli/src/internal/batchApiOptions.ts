// The options of `fastllm run --batch-api`, apart from the mode itself (BatchApiRun.ts): `run`
// declares them at start-up, and the Batch API client behind them loads only when the mode runs
// (`npx tsx bench/startup.ts`: `fastllm --help`).
import * as CliOptions from "@effect/cli/Options"

/** The options `fastllm run` takes for the Batch API mode (re-exported as `BatchApiRun.runOptions`). */
export const runOptions = {
  batchApi: CliOptions.boolean("batch-api").pipe(
    CliOptions.withDescription(
      "Run through the provider's Batch API: half the price, answers within 24 h; resumable (rerun the same command)"
    )
  ),
  batchSize: CliOptions.integer("batch-size").pipe(
    CliOptions.withPseudoName("N"),
    CliOptions.withDescription("--batch-api: most requests per batch (files are also split at 200 MB)"),
    CliOptions.withDefault(50_000)
  ),
  pollInterval: CliOptions.text("poll-interval").pipe(
    CliOptions.withPseudoName("DURATION"),
    CliOptions.withDescription("--batch-api: first delay between polls of a batch; backs off to 60s while nothing moves"),
    CliOptions.withDefault("5s")
  )
}
