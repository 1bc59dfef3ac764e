/**
 * `fastllm worker --redis URL`: works on every open job of a Redis, with this machine's own API key
 * and base URL, until stopped (or, with `--exit-when-idle`, until no job has work left). Also the
 * engine settings (`--concurrency`, `--rpm`, ...) shared by `worker` and `run --redis`, and the
 * work loop that `run --redis` runs on its own job.
 *
 * @since 0.2.0
 */
import { type ItemResult, LLMError, RequestManager } from "@fastllm/core"
import type { JobQueue, RedisConnection } from "@fastllm/redis"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { hostname } from "node:os"
import * as AutoProvider from "./AutoProvider.js"
import { ConfigurationError } from "./CliError.js"
import * as BatchLine from "./BatchLine.js"
import * as RedisJob from "./RedisJob.js"
import * as EngineOptions from "./EngineOptions.js"
import * as Redis from "./internal/redis.js"

/**
 * `worker`'s options beyond {@link RedisJob.options}: run's provider and engine options (one
 * definition, `EngineOptions`) and `--quiet`.
 *
 * @since 0.2.0
 * @category options
 */
export const engineOptions = {
  ...EngineOptions.options,
  quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("No progress lines"))
}

/**
 * The engine settings, as given on the command line.
 *
 * @since 0.2.0
 * @category models
 */
export interface EngineArgs extends EngineOptions.Args {
  readonly redis: Redacted.Redacted
  readonly redisPrefix: string
  readonly lease: Duration.Duration
  readonly noCache?: boolean | undefined
}

const invalid = (reason: string) => new ConfigurationError({ reason })

/** Budgets given to any process are global: stored in Redis, and read by those given none. */
const sharedLimits = (connection: RedisConnection.RedisConnection.Service, rpm: number | undefined, tpm: number | undefined) =>
  Effect.gen(function*() {
    const key = `${connection.prefix}limits`
    if (rpm !== undefined) yield* connection.use("store limits", (client) => client.hset(key, "rpm", rpm))
    if (tpm !== undefined) yield* connection.use("store limits", (client) => client.hset(key, "tpm", tpm))
    const [storedRpm, storedTpm] = yield* connection.use("read limits", (client) => client.hmget(key, "rpm", "tpm"))
    const read = (text: string | null | undefined) => text === null || text === undefined ? undefined : Number(text)
    return { rpm: rpm ?? read(storedRpm), tpm: tpm ?? read(storedTpm) }
  })

/**
 * What a Redis-backed process runs on: the connection, a RequestManager over the shared Redis
 * cache and the global rate-limit store, and the job queue. A Redis that does not answer is a
 * `ConfigurationError` naming the URL (password hidden).
 *
 * @since 0.2.0
 * @category layers
 */
export const engine = (args: EngineArgs, log: (line: string) => void) =>
  Effect.gen(function*() {
    const settings = yield* EngineOptions.providerSettings(args)
    const { JobQueue, RedisCache, RedisConnection, RedisRateLimiter } = yield* Redis.load
    const connection = yield* RedisConnection.make({ url: args.redis as Redacted.Redacted<string>, prefix: args.redisPrefix }).pipe(
      Effect.mapError((error) => invalid(error.message))
    )
    const limits = yield* sharedLimits(connection, Option.getOrUndefined(args.rpm), Option.getOrUndefined(args.tpm)).pipe(
      Effect.mapError((error) => invalid(error.message))
    )
    const options = yield* EngineOptions.managerOptions(args, {
      cache: args.noCache !== true,
      requestsPerMinute: limits.rpm,
      tokensPerMinute: limits.tpm
    })
    const ttl = Option.getOrUndefined(args.ttl)
    const lease = args.lease
    const connectionLayer = Layer.succeed(RedisConnection.RedisConnection, connection)
    const managerLayer = (quiet: boolean) =>
      RequestManager.layer(options).pipe(
        Layer.provide(RedisRateLimiter.layerSharedGate({ requestsPerMinute: limits.rpm }).pipe(Layer.provide(AutoProvider.layer({
          ...settings,
          connections: args.concurrency,
          announce: quiet ? () => {} : (line) => log(line + "\n")
        })))),
        Layer.provide(Layer.merge(RedisCache.layer({ lease, timeToLive: ttl }), RedisRateLimiter.layerStore)),
        Layer.provide(connectionLayer)
      )
    const queue = yield* JobQueue.make({ lease }).pipe(Effect.provide(connectionLayer))
    return { connection, queue, managerLayer, lease, concurrency: args.concurrency, limits }
  })

const encodeRecord = Schema.encodeSync(RedisJob.ChunkRecord)

/** Runs one chunk through the manager; its record and counts. */
const processChunk = (
  manager: RequestManager.RequestManager.Service,
  chunk: JobQueue.Chunk,
  onResult: WorkOptions["onResult"]
) =>
  Effect.gen(function*() {
    const parsed = chunk.lines.map((l) =>
      l.valid ? BatchLine.parse(l.text, l.line, { model: chunk.model }) : BatchLine.invalidUtf8(l.text, l.line)
    )
    const requests = parsed.flatMap((p, i) => p._tag === "Request" ? [{ input: p.input, i }] : [])
    const results = yield* Stream.runCollect(manager.stream(Stream.fromIterable(requests.map((r) => r.input))))
    const record: Array<{ readonly kind: "chat" | "embedding" | null; readonly error: LLMError.ProviderError } | null> =
      parsed.map(() => null)
    let failed = parsed.length - requests.length
    for (const result of results) {
      onResult?.(chunk, requests[result.index]!.i, result)
      if (result._tag === "Failure") {
        failed++
        record[requests[result.index]!.i] = { kind: result.kind ?? null, error: result.error }
      }
    }
    return { record: encodeRecord(record), counts: { done: parsed.length, failed } }
  })

/**
 * Options of {@link work}.
 *
 * @since 0.2.0
 * @category models
 */
export interface WorkOptions {
  /** This worker's name in the consumer group (unique per process). */
  readonly consumer: string
  /** Work on these jobs only (default: every open job). */
  readonly jobIds?: ReadonlyArray<string> | undefined
  /** Stop once no job has chunks without a record. */
  readonly exitWhenIdle: boolean
  /** Chunks worked on at once. */
  readonly chunksInFlight: number
  readonly lease: Duration.Duration
  /** Called with each item's result (its 0-based position in the chunk), as this process got it. */
  readonly onResult?: ((chunk: JobQueue.Chunk, position: number, result: ItemResult.ItemResult) => void) | undefined
}

/**
 * The work loop: takes chunks (a silent worker's first), runs them through the RequestManager in
 * context, stores each chunk's record; heartbeats keep taken chunks from being taken over. Returns
 * the number of chunks completed when idle (`exitWhenIdle`), else runs until interrupted.
 *
 * @since 0.2.0
 * @category running
 */
export const work = (queue: JobQueue.JobQueue.Service, options: WorkOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const manager = yield* RequestManager.RequestManager
    const inProgress = new Set<JobQueue.Chunk>()
    const freed = yield* Queue.unbounded<void>()
    const fibers = yield* FiberSet.make<void, never>()
    let completed = 0
    yield* Effect.addFinalizer(() => Effect.ignore(queue.retire(options.consumer)))
    yield* queue.heartbeat(options.consumer, inProgress).pipe(
      Effect.ignore,
      Effect.zipRight(Effect.sleep(Duration.millis(Duration.toMillis(options.lease) / 3))),
      Effect.forever,
      Effect.forkScoped
    )
    let idleRounds = 0
    while (true) {
      if (inProgress.size >= options.chunksInFlight) {
        yield* Queue.take(freed)
        continue
      }
      const chunks = yield* queue.take(options.consumer, options.chunksInFlight - inProgress.size, options.jobIds)
      for (const chunk of chunks) {
        inProgress.add(chunk)
        yield* FiberSet.run(
          fibers,
          processChunk(manager, chunk, options.onResult).pipe(
            Effect.flatMap(({ counts, record }) => queue.complete(chunk, record, counts)),
            Effect.tap(() => Effect.sync(() => completed++)),
            // A chunk whose record could not be stored stays pending: it is taken again after the lease.
            Effect.catchAll((error) => Effect.logWarning(`fastllm worker: ${error.message}`)),
            Effect.ensuring(Effect.zipRight(Effect.sync(() => inProgress.delete(chunk)), Queue.offer(freed, undefined)))
          )
        )
      }
      if (chunks.length > 0) {
        idleRounds = 0
        continue
      }
      if (inProgress.size === 0 && options.exitWhenIdle && !(yield* queue.hasWork)) return completed
      yield* Effect.race(Queue.take(freed), Effect.sleep(Duration.millis(Math.min(500, 20 * 2 ** idleRounds++))))
    }
  }))

const workerOptions = {
  ...RedisJob.options,
  ...engineOptions,
  exitWhenIdle: Options.boolean("exit-when-idle").pipe(Options.withDescription("Exit once no job has work left"))
}

/**
 * A worker's name in the consumer group: host, pid and a random part.
 *
 * @since 0.2.0
 * @category constructors
 */
export const consumerName = (): string => `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`

/**
 * `fastllm worker --redis URL [--exit-when-idle]`.
 *
 * @since 0.2.0
 * @category commands
 */
export const command = Command.make("worker", workerOptions, (args) =>
  Effect.scoped(Effect.gen(function*() {
    const log = (text: string) => void process.stderr.write(text)
    const setup = yield* engine(args, log)
    const consumer = consumerName()
    if (!args.quiet) log(`fastllm worker ${consumer}: working on the jobs of ${setup.connection.displayUrl}\n`)
    const completed = yield* work(setup.queue, {
      consumer,
      exitWhenIdle: args.exitWhenIdle,
      chunksInFlight: Math.max(2, Math.ceil((4 * setup.concurrency) / 100)),
      lease: setup.lease
    }).pipe(
      Effect.provide(setup.managerLayer(args.quiet)),
      Effect.mapError((error) => invalid(error.message))
    )
    if (!args.quiet) log(`fastllm worker ${consumer}: no work left (${completed} chunks done)\n`)
  }))).pipe(
  Command.withDescription(
    "Work on every open job of a Redis (submitted by `fastllm run --redis`), with this machine's API key and " +
      "base URL; answers go to the shared Redis cache. Rate limits are global for that Redis."
  )
)
