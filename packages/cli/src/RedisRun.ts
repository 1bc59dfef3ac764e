/**
 * `fastllm run INPUT -o OUTPUT --redis URL`: the input becomes a job on Redis (submitting the same
 * input again joins it), this process works on it like any `fastllm worker`, and OUTPUT is written
 * complete and in input order as the chunks finish, wherever they ran: answers come from the
 * shared cache, failures from the chunks' records. Killed and rerun, it joins the job again and
 * continues.
 *
 * @since 0.2.0
 */
import { type BatchStats, type LLMError, RequestManager, TokenStats } from "@fastllm/core"
import type { JobQueue, RedisConnection } from "@fastllm/redis"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as path from "node:path"
import * as BatchFile from "./BatchFile.js"
import { ConfigurationError, ItemsFailed } from "./CliError.js"
import * as Redis from "./internal/redis.js"
import * as RedisJob from "./RedisJob.js"
import * as Worker from "./Worker.js"

/** Lines per chunk: one queue operation per hundred requests. */
const chunkSize = 100

/**
 * The arguments of `run` that `run --redis` uses.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunArgs extends Worker.EngineArgs {
  readonly input: string
  readonly output: Option.Option<string>
  readonly model: Option.Option<string>
  readonly quiet: boolean
  readonly progress: string
  readonly statsJson: Option.Option<string>
}

/** The input's non-blank lines with their 1-based numbers, as `BatchFile.run` reads them. */
const inputLines = (input: string): Stream.Stream<JobQueue.Line, ConfigurationError, FileSystem.FileSystem> =>
  Stream.unwrap(Effect.map(FileSystem.FileSystem, (fs) =>
    BatchFile.utf8Lines(fs.stream(input, { chunkSize: 256 * 1024 })).pipe(
      Stream.mapError((e) => new ConfigurationError({ reason: `Cannot read input ${input}: ${String(e)}` })),
      Stream.zipWithIndex,
      Stream.filter(([decoded]) => decoded.text.trim() !== ""),
      Stream.map(([decoded, index]) => ({
        line: index + 1,
        text: index === 0 ? decoded.text.replace(/^\uFEFF/, "") : decoded.text,
        valid: decoded.valid
      }))
    )))

const sha256 = (input: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => {
    const hash = createHash("sha256")
    return fs.stream(input, { chunkSize: 1024 * 1024 }).pipe(
      Stream.runForEach((bytes) => Effect.sync(() => hash.update(bytes))),
      Effect.map(() => hash.digest("hex")),
      Effect.mapError((e) => new ConfigurationError({ reason: `Cannot read input ${input}: ${e.message}` }))
    )
  })

const decodeRecord = Schema.decodeUnknownEither(RedisJob.ChunkRecord)
type Recorded = Schema.Schema.Type<typeof RedisJob.ChunkRecord>

/**
 * The chunks' records as they arrive: `await(i)` waits for the record of item `i`'s chunk; `poll`
 * reads records in order (64 chunks per round trip, backing off while none is new) and fails with
 * a message naming the server when Redis fails or the job vanished (a Redis restarted without
 * persistence, or flushed).
 */
const makeRecords = (queue: JobQueue.JobQueue.Service, job: JobQueue.JobInfo, displayUrl: string) =>
  Effect.gen(function*() {
    const records = yield* Effect.forEach(Array.from({ length: job.chunks }), () => Deferred.make<Recorded>())
    const known: Array<boolean> = records.map(() => false)
    const lost = new ConfigurationError({
      reason: `job ${job.id.slice(0, 12)} is gone from Redis at ${displayUrl} (restarted without persistence, or ` +
        "flushed?): rerun the same command to submit it again; answers still in the cache are not asked again"
    })
    const stillThere = Effect.flatMap(queue.job(job.id), (found) =>
      Option.isSome(found) && found.value.state !== "done" ? Effect.void : Effect.fail(lost))
    const poll = (next: number, idle: number): Effect.Effect<void, ConfigurationError | RedisConnection.RedisError> =>
      next >= job.chunks ? Effect.void : Effect.flatMap(
        queue.records(job.id, next, Math.min(64, job.chunks - next)),
        (found) => {
          found.forEach((text, offset) => {
            if (text === undefined || known[next + offset]) return
            known[next + offset] = true
            Deferred.unsafeDone(records[next + offset]!, Effect.succeed(Either.getOrElse(decodeRecord(text), () => [])))
          })
          let advanced = next
          while (advanced < job.chunks && known[advanced]) advanced++
          if (advanced > next) return poll(advanced, 0)
          const wait = Effect.sleep(Duration.millis(Math.min(500, 20 * 2 ** idle)))
          return Effect.zipRight(idle % 8 === 7 ? Effect.zipRight(stillThere, wait) : wait, poll(next, idle + 1))
        }
      )
    return {
      await: (i: number) => Deferred.await(records[Math.floor(i / chunkSize)]!),
      poll: poll(0, 0).pipe(Effect.mapError((error) => error._tag === "RedisError" ? new ConfigurationError({ reason: error.message }) : error))
    }
  })

/** Where this process's own work left an item: answered by its API call, or by an identical call in flight. */
const sentHere = 1
const sharedHere = 2

const failureKind = (error: LLMError.ProviderError): string =>
  error._tag === "RateLimitError" && error.kind === "quota" ? "InsufficientQuota" : error._tag

/**
 * A RequestManager for the writer: item `i` waits for the record of its chunk; a recorded failure
 * is its result, anything else runs through the writer's manager, where the shared cache answers
 * it. Its stats tell what this process did: `apiCalls`, tokens and cost are what this process sent
 * (its worker and, rarely, the writer itself on a cache miss); an item counts as a cache hit only
 * when neither sent it (it came from the cache or another worker), as deduplicated when an
 * identical call of this process answered it.
 */
const jobWriter = (
  writer: RequestManager.RequestManager.Service,
  worker: RequestManager.RequestManager.Service,
  awaitRecord: (i: number) => Effect.Effect<Recorded>,
  origin: Uint8Array,
  window: number
): RequestManager.RequestManager.Service => {
  let total = 0
  let succeeded = 0
  let cached = 0
  let deduplicated = 0
  const failuresByKind: Record<string, number> = {}
  let startedAt: number | undefined
  const tally = (result: RequestManager.ItemResult, i: number) => {
    if (result._tag === "Failure") {
      const kind = failureKind(result.error)
      failuresByKind[kind] = (failuresByKind[kind] ?? 0) + 1
      return
    }
    succeeded++
    if (origin[i] === sharedHere || (origin[i] !== sentHere && result.deduplicated)) deduplicated++
    else if (origin[i] !== sentHere && result.fromCache) cached++
  }
  const item = (input: unknown, i: number): Effect.Effect<RequestManager.ItemResult> =>
    Effect.flatMap(awaitRecord(i), (record) => {
      const failure = record[i % chunkSize]
      if (failure !== undefined && failure !== null) {
        return Effect.succeed<RequestManager.ItemResult>({
          _tag: "Failure",
          index: i,
          key: undefined,
          kind: failure.kind ?? undefined,
          error: failure.error,
          attempts: 0
        })
      }
      return Effect.map(writer.execute(input), (result) => ({ ...result, index: i }))
    }).pipe(Effect.tap((result) => Effect.sync(() => tally(result, i))))
  const snapshot = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    startedAt ??= now
    const [w, r] = [yield* worker.snapshot, yield* writer.snapshot]
    const failed = Object.values(failuresByKind).reduce((sum, n) => sum + n, 0)
    const done = succeeded + failed
    const elapsedMillis = Math.max(1, now - startedAt)
    const seconds = elapsedMillis / 1000
    const tokens = TokenStats.add(w.tokens, r.tokens)
    const stats: BatchStats.BatchStats = {
      ...w,
      total: Math.max(total, done),
      done,
      succeeded,
      failed,
      cached,
      deduplicated,
      retries: w.retries + r.retries,
      apiCalls: w.apiCalls + r.apiCalls,
      inFlight: w.inFlight + r.inFlight,
      rateLimited: w.rateLimited + r.rateLimited,
      rateLimitedIsolated: w.rateLimitedIsolated + r.rateLimitedIsolated,
      rateLimitWaitMillis: w.rateLimitWaitMillis + r.rateLimitWaitMillis,
      cacheErrors: w.cacheErrors + r.cacheErrors,
      failuresByKind: { ...failuresByKind },
      tokens,
      cost: { usd: w.cost.usd + r.cost.usd, unpricedItems: w.cost.unpricedItems + r.cost.unpricedItems },
      elapsedMillis,
      requestsPerSecond: done / seconds,
      promptTokensPerSecond: tokens.promptTokens / seconds,
      completionTokensPerSecond: tokens.completionTokens / seconds,
      etaMillis: done > 0 && total > done ? ((total - done) * elapsedMillis) / done : undefined
    }
    return stats
  })
  const streamWith = <M, E, R>(
    requests: Stream.Stream<RequestManager.WithMeta<M>, E, R>,
    options?: RequestManager.RunOptions
  ): Stream.Stream<RequestManager.ResultWithMeta<M>, E, R> =>
    Stream.suspend(() => {
      total = options?.total ?? 0
      return requests.pipe(
        Stream.zipWithIndex,
        Stream.tap(([, i]) => Effect.sync(() => total = Math.max(total, i + 1))),
        Stream.mapEffect(([{ meta, request }, i]) => Effect.map(item(request, i), (result) => ({ meta, result })), {
          concurrency: window
        })
      )
    })
  return RequestManager.RequestManager.of({
    ...writer,
    streamWith,
    stream: (requests, options) =>
      Stream.map(streamWith(Stream.map(requests, (request) => ({ meta: undefined, request })), options), ({ result }) => result),
    snapshot,
    progress: (interval = "1 second") => Stream.repeatEffectWithSchedule(snapshot, Schedule.spaced(interval))
  })
}

/**
 * Runs `fastllm run ... --redis URL`.
 *
 * @since 0.2.0
 * @category commands
 */
export const run = (args: RunArgs) =>
  Effect.scoped(Effect.gen(function*() {
    const log = (text: string) => void process.stderr.write(text)
    const output = Option.getOrUndefined(args.output)
    const model = Option.getOrUndefined(args.model)
    const prepared = yield* BatchFile.prepare({ input: args.input, output })
    if (prepared === undefined) {
      return yield* new ConfigurationError({ reason: "run --redis needs an input file (a job is keyed by its content), not a stream" })
    }
    const setup = yield* Worker.engine(args, log)
    const { JobQueue } = yield* Redis.load
    const id = JobQueue.jobId({ contentSha256: yield* sha256(args.input), chunkSize, model })
    const redisFailure = (error: { readonly message: string }) => new ConfigurationError({ reason: error.message })
    const job = yield* setup.queue.submit(
      { id, name: path.basename(args.input), total: prepared, chunkSize, model },
      inputLines(args.input)
    ).pipe(Effect.mapError((error) => error._tag === "RedisError" ? redisFailure(error) : error))
    if (!args.quiet) {
      log(
        `fastllm: job ${id.slice(0, 12)} on ${setup.connection.displayUrl}: ${job.chunksDone} of ${job.chunks} chunks ` +
          `done; more hands: fastllm worker --redis URL\n`
      )
    }
    // This process works on its own job like any worker; if that fails (Redis gone), the run fails.
    const workerManager = Context.get(yield* Layer.build(setup.managerLayer(true)), RequestManager.RequestManager)
    const writerManager = Context.get(yield* Layer.build(setup.managerLayer(args.quiet)), RequestManager.RequestManager)
    const origin = new Uint8Array(prepared)
    const working = Worker.work(setup.queue, {
      consumer: Worker.consumerName(),
      jobIds: [id],
      exitWhenIdle: false,
      chunksInFlight: Math.max(2, Math.ceil((4 * setup.concurrency) / chunkSize)),
      lease: setup.lease,
      onResult: (chunk, position, result) => {
        if (result._tag === "Success" && !result.fromCache) origin[chunk.index * chunkSize + position] = result.deduplicated ? sharedHere : sentHere
      }
    }).pipe(Effect.provideService(RequestManager.RequestManager, workerManager), Effect.mapError(redisFailure))
    const records = yield* makeRecords(setup.queue, job, setup.connection.displayUrl)
    const writer = Layer.succeed(
      RequestManager.RequestManager,
      jobWriter(writerManager, workerManager, records.await, origin, 2 * setup.concurrency)
    )
    const progress: BatchFile.ProgressMode = args.quiet
      ? "none"
      : args.progress === "auto"
      ? (process.stderr.isTTY ? "bar" : "log")
      : args.progress === "bar" || args.progress === "log" ? args.progress : "none"
    const writing = BatchFile.run({
      input: args.input,
      output,
      prepared,
      model,
      progress,
      summary: !args.quiet,
      statsJson: Option.getOrUndefined(args.statsJson),
      log
    }).pipe(Effect.provide(writer))
    const background = Effect.all([Effect.zipRight(records.poll, Effect.never), working], {
      concurrency: "unbounded",
      discard: true
    })
    const outcome = yield* Effect.raceFirst(writing, Effect.zipRight(background, Effect.never))
    yield* setup.queue.finish(id).pipe(Effect.mapError(redisFailure))
    if (outcome.failed > 0) return yield* new ItemsFailed({ failed: outcome.failed, total: outcome.lines })
  }))

