/**
 * `fastllm batches list | status ID | cancel ID | cancel --all`: what the `--batch-api` jobs of a
 * cache directory have in flight, read from their ledgers and asked of the provider.
 *
 * @since 0.2.0
 */
import { BatchExecutor } from "@fastllm/core"
import type { OpenAiBatch } from "@fastllm/provider-openai"
import * as OpenAiConfig from "@fastllm/provider-openai/OpenAiConfig"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ConfigurationError } from "./CliError.js"
import * as RunCommand from "./RunCommand.js"
import * as BatchLedger from "./BatchLedger.js"

const common = {
  cache: Options.text("cache").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("Disk cache directory of the jobs (default $FASTLLM_CACHE_DIR or ./.fastllm-cache)"),
    Options.optional
  ),
  baseUrl: Options.text("base-url").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription("OpenAI-compatible API base URL incl. /v1 (default $OPENAI_BASE_URL, else OpenAI)"),
    Options.optional
  )
}

const print = (text: string) => Effect.sync(() => void process.stdout.write(text + "\n"))

const settings = (args: { readonly cache: Option.Option<string>; readonly baseUrl: Option.Option<string> }) =>
  Effect.gen(function*() {
    const cacheDirectory = Option.isSome(args.cache)
      ? args.cache.value
      : yield* RunCommand.defaultCacheDirectory.pipe(Effect.orElseSucceed(() => ".fastllm-cache"))
    const env = yield* OpenAiConfig.environment.pipe(
      Effect.mapError((error) => new ConfigurationError({ reason: `Configuration: ${String(error)}` }))
    )
    const baseUrl = Option.getOrElse(args.baseUrl, () => env.baseUrl)
    return { cacheDirectory, apiKey: env.apiKey, baseUrl, remote: env.apiKey !== undefined || baseUrl !== undefined }
  })

/** Runs `use` with the executor of the configured API; without a key or base URL, a usage error. */
const withExecutor = <A, E>(
  found: { readonly apiKey: OpenAiBatch.Options["apiKey"]; readonly baseUrl: string | undefined; readonly remote: boolean },
  use: (executor: BatchExecutor.BatchExecutor.Service) => Effect.Effect<A, E>
): Effect.Effect<A, E | ConfigurationError> =>
  found.remote
    ? Effect.flatMap(BatchExecutor.BatchExecutor, use).pipe(
      // The Batch API client (undici) is imported here, not at start-up (`npx tsx bench/startup.ts`).
      Effect.provide(Layer.unwrapEffect(Effect.map(
        Effect.promise(() => import("@fastllm/provider-openai/OpenAiBatch")),
        (OpenAiBatch) => OpenAiBatch.layer({ apiKey: found.apiKey, baseUrl: found.baseUrl })
      )))
    )
    : Effect.fail(
      new ConfigurationError({
        reason: "no OPENAI_API_KEY or base URL set: the built-in server's batches live only inside the run that made them"
      })
    )

const describeBatch = (info: BatchExecutor.BatchInfo) => {
  const counts = info.requestCounts
  return `${info.id}  ${info.status.padEnd(11)} ${counts.completed + counts.failed}/${counts.total} done, ${counts.failed} failed`
}

const inFlight = (cacheDirectory: string) =>
  BatchLedger.jobs(cacheDirectory).flatMap((job) =>
    [...job.state.groups.values()].filter(BatchLedger.inFlight).map((group) => ({ job, group }))
  )

/**
 * `fastllm batches list`.
 *
 * @since 0.2.0
 * @category commands
 */
export const listCommand = Command.make("list", common, (args) =>
  Effect.gen(function*() {
    const found = yield* settings(args)
    const jobs = BatchLedger.jobs(found.cacheDirectory)
    if (jobs.length === 0) return yield* print(`no batch jobs in ${BatchLedger.jobsDirectory(found.cacheDirectory)}`)
    for (const job of jobs) {
      const started = job.state.startedAt === undefined ? "" : ` started ${new Date(job.state.startedAt).toISOString()}`
      yield* print(`job ${job.id}  ${job.state.input ?? "?"}${started}`)
      for (const group of job.state.groups.values()) {
        if (group.batchId === undefined) {
          yield* print(`  (${group.id}, ${group.size} lines)  ${group.ended ?? "not submitted yet"}`)
        } else if (group.ended !== undefined || !found.remote) {
          yield* print(`  ${group.batchId}  ${group.ended ?? "in flight"}  (${group.id}, ${group.size} lines)`)
        } else {
          const line = yield* withExecutor(found, (executor) => executor.retrieve(group.batchId!)).pipe(
            Effect.map(describeBatch),
            Effect.orElseSucceed(() => `${group.batchId}  in flight (not reachable now)`)
          )
          yield* print(`  ${line}  (${group.id}, ${group.size} lines)`)
        }
      }
    }
  })).pipe(Command.withDescription("The batch jobs of this cache and their batches (live status when a key or base URL is set)"))

/**
 * `fastllm batches status ID`.
 *
 * @since 0.2.0
 * @category commands
 */
export const statusCommand = Command.make("status", { ...common, id: Args.text({ name: "BATCH_ID" }) }, (args) =>
  Effect.gen(function*() {
    const found = yield* settings(args)
    const info = yield* withExecutor(found, (executor) => executor.retrieve(args.id)).pipe(
      Effect.catchTag("BatchError", (error) => Effect.fail(new ConfigurationError({ reason: error.message })))
    )
    yield* print(describeBatch(info))
    yield* print(JSON.stringify(info, null, 2))
  })).pipe(Command.withDescription("One batch as the provider reports it"))

/**
 * `fastllm batches cancel ID | --all`.
 *
 * @since 0.2.0
 * @category commands
 */
export const cancelCommand = Command.make("cancel", {
  ...common,
  all: Options.boolean("all").pipe(Options.withDescription("Cancel every batch this cache's jobs have in flight")),
  id: Args.text({ name: "BATCH_ID" }).pipe(Args.optional)
}, (args) =>
  Effect.gen(function*() {
    const found = yield* settings(args)
    const ids = args.all
      ? inFlight(found.cacheDirectory).map(({ group }) => group.batchId!)
      : Option.isSome(args.id)
      ? [args.id.value]
      : yield* new ConfigurationError({ reason: "fastllm batches cancel: give a BATCH_ID or --all" })
    if (ids.length === 0) return yield* print("no batches in flight")
    yield* withExecutor(found, (executor) =>
      Effect.forEach(ids, (id) =>
        executor.cancel(id).pipe(
          Effect.flatMap((info) => print(`${info.id}: ${info.status}`)),
          Effect.catchAll((error) => print(`${id}: ${error.message}`))
        ), { discard: true }))
    yield* print("rerun the job's command to collect what the cancelled batches answered")
  })).pipe(Command.withDescription("Cancel a batch, or --all of this cache's batches in flight"))

/**
 * `fastllm batches`.
 *
 * @since 0.2.0
 * @category commands
 */
export const command = Command.make("batches").pipe(
  Command.withDescription("The --batch-api jobs of a cache: list, status, cancel"),
  Command.withSubcommands([listCommand, statusCommand, cancelCommand])
)
