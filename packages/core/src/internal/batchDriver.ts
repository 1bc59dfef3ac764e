import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as ApiRequest from "../ApiRequest.js"
import * as BE from "../BatchExecutor.js"
import * as CacheModule from "../Cache.js"
import { ApiError, type ProviderError } from "../LLMError.js"
import * as RequestKey from "../RequestKey.js"
import type * as RM from "../ItemResult.js"
import * as TokenStats from "../TokenStats.js"

/** Options of a job. @internal */
export interface Options {
  /** First delay between polls of a batch. Default 5 seconds. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Longest delay between polls. Default 60 seconds (or `pollInterval` when longer). */
  readonly pollIntervalMax?: Duration.DurationInput | undefined
  /** Most requests per batch (at most the executor's `maxRequests`). Default the executor's. */
  readonly batchSize?: number | undefined
  /** Follow-up batches for lines that expired or were cancelled. Default 4. */
  readonly retries?: number | undefined
  /** Read and write the `Cache`. Default true. */
  readonly cache?: boolean | undefined
  /** Expiry of the cache entries written. */
  readonly timeToLive?: Duration.DurationInput | undefined
  /** Refusals for a limit before a batch is split in two and the halves submitted. Default 3. */
  readonly limitRetries?: number | undefined
  /** Called after every change of a batch (status, counts), for progress displays. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

/** Where a job stands. @internal */
export interface Progress {
  readonly batches: Readonly<Record<string, number>>
  readonly requests: BE.RequestCounts
  /** Requests answered from the cache without a batch. */
  readonly cached: number
}

/** The results of a run, in input order. @internal */
export interface BatchRunResult {
  readonly results: ReadonlyArray<RM.ItemResult>
  /** Batches created (follow-ups and halves included). */
  readonly batches: number
}

/** A group of lines that goes into one batch file. @internal */
export interface Group {
  readonly id: string
  readonly endpoint: BE.Endpoint
  readonly size: number
  /** 0 for a first submission, n for the n-th follow-up of lines that expired. */
  readonly attempt: number
  /** The group's lines, loaded when needed (uploads, results) and not kept. */
  readonly load: Effect.Effect<ReadonlyArray<BE.RequestLine>, BE.BatchError>
  /** Known after the upload. */
  readonly fileId?: string | undefined
  /** Known after the creation. */
  readonly batchId?: string | undefined
  /** A creation was asked for but its answer never recorded (a crash): look for the batch first. */
  readonly creating?: boolean | undefined
}

/** A line that is done: an answer or a failure. @internal */
export interface Settled {
  readonly line: BE.RequestLine
  readonly outcome: Either.Either<ApiRequest.ApiResponse, ProviderError>
}

/** What the driver records on the way; the CLI's ledger makes each step durable. @internal */
export interface Journal {
  readonly uploading: (group: Group) => Effect.Effect<void, BE.BatchError>
  readonly uploaded: (group: Group, fileId: string) => Effect.Effect<void, BE.BatchError>
  readonly creating: (group: Group, fileId: string) => Effect.Effect<void, BE.BatchError>
  readonly created: (group: Group, batch: BE.BatchInfo) => Effect.Effect<void, BE.BatchError>
  readonly settle: (group: Group, settled: ReadonlyArray<Settled>) => Effect.Effect<void, BE.BatchError>
  /** A new group of some of `parent`'s lines: a follow-up (`attempt` + 1) or a half. Idempotent by `name`. */
  readonly spawn: (
    parent: Group,
    name: string,
    lines: ReadonlyArray<BE.RequestLine>,
    attempt: number
  ) => Effect.Effect<Group, BE.BatchError>
  readonly ended: (group: Group, batch: BE.BatchInfo | undefined) => Effect.Effect<void, BE.BatchError>
}

/** @internal */
export interface DriveOptions {
  readonly pollInterval: Duration.Duration
  readonly pollIntervalMax: Duration.Duration
  readonly retries: number
  readonly limitRetries: number
  readonly metadata?: Readonly<Record<string, string>> | undefined
  readonly cached?: number | undefined
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

/** Transient failures (network, 5xx) are retried with backoff; the rest fail at once. */
const transientRetry = Schedule.exponential("1 second", 2).pipe(
  Schedule.jittered,
  Schedule.modifyDelay((delay) => Duration.min(delay, Duration.seconds(60))),
  Schedule.intersect(Schedule.recurs(8))
)

const retryTransient = <A>(effect: Effect.Effect<A, BE.BatchError>): Effect.Effect<A, BE.BatchError> =>
  Effect.retry(effect, { schedule: transientRetry, while: (error) => error.kind === "transient" })

/**
 * How long to wait after the n-th refusal for a limit (from 1): the server's word, else the poll
 * interval times 2^n, at most 5 minutes.
 */
const limitWait = (error: BE.BatchError | undefined, refusals: number, base: Duration.Duration): Duration.Duration =>
  error?.retryAfter ?? Duration.min(Duration.times(base, 2 ** refusals), Duration.minutes(5))

const isLimitCode = (code: string): boolean => /limit|quota/i.test(code)

const failureOf = (error: BE.BatchError): ProviderError =>
  new ApiError({
    status: error.status ?? 400,
    ...(error.code === undefined ? {} : { code: error.code }),
    type: "invalid_request_error",
    detail: error.detail,
    retryable: false
  })

const sameCounts = (a: BE.RequestCounts, b: BE.RequestCounts) =>
  a.total === b.total && a.completed === b.completed && a.failed === b.failed

/**
 * Runs groups through the executor until every line is settled. @internal
 */
export const drive = (
  groups: ReadonlyArray<Group>,
  journal: Journal,
  options: DriveOptions
): Effect.Effect<void, BE.BatchError, BE.BatchExecutor> =>
  Effect.gen(function*() {
    const executor = yield* BE.BatchExecutor
    // Uploads and result downloads hold a whole group in memory: two of them at a time (together)
    // keeps the job's memory flat however many batches it has. Polls are cheap and run for every
    // batch at once.
    const heavy = yield* Effect.makeSemaphore(2)
    const uploads = heavy
    const downloads = heavy
    const board = new Map<string, { readonly status: string; readonly counts: BE.RequestCounts }>()
    const noCounts: BE.RequestCounts = { total: 0, completed: 0, failed: 0 }

    const report = (group: Group, status: string, counts: BE.RequestCounts = noCounts) =>
      Effect.suspend(() => {
        if (status === "") board.delete(group.id)
        else board.set(group.id, { status, counts })
        if (options.onProgress === undefined) return Effect.void
        const batches: Record<string, number> = {}
        let total = 0
        let completed = 0
        let failed = 0
        for (const entry of board.values()) {
          batches[entry.status] = (batches[entry.status] ?? 0) + 1
          total += entry.counts.total
          completed += entry.counts.completed
          failed += entry.counts.failed
        }
        return options.onProgress({ batches, requests: { total, completed, failed }, cached: options.cached ?? 0 })
      })

    const settleAll = (group: Group, error: ProviderError) =>
      Effect.flatMap(group.load, (lines) => journal.settle(group, lines.map((line) => ({ line, outcome: Either.left(error) }))))

    const upload = (group: Group): Effect.Effect<Option.Option<string>, BE.BatchError> =>
      uploads.withPermits(1)(Effect.gen(function*() {
        yield* report(group, "uploading")
        yield* journal.uploading(group)
        const lines = yield* group.load
        const uploaded = yield* Effect.either(retryTransient(executor.upload(group.endpoint, lines)))
        if (Either.isLeft(uploaded)) {
          if (uploaded.left.kind !== "rejected") return yield* uploaded.left
          yield* journal.settle(group, lines.map((line) => ({ line, outcome: Either.left(failureOf(uploaded.left)) })))
          return Option.none()
        }
        yield* journal.uploaded(group, uploaded.right)
        return Option.some(uploaded.right)
      }))

    /** Looks for a batch created from `fileId` whose creation was never recorded. */
    const adopt = (fileId: string) =>
      Effect.map(retryTransient(executor.list({ limit: 100 })), (batches) =>
        Option.fromNullable(batches.find((batch) => batch.inputFileId === fileId)))

    /** Splits a group that keeps being refused for a limit into halves, run in its place. */
    const split = (group: Group): Effect.Effect<void, BE.BatchError> =>
      Effect.gen(function*() {
        const lines = yield* group.load
        const middle = Math.ceil(lines.length / 2)
        const halves = yield* Effect.all([
          journal.spawn(group, `${group.id}a`, lines.slice(0, middle), group.attempt),
          journal.spawn(group, `${group.id}b`, lines.slice(middle), group.attempt)
        ])
        yield* journal.ended(group, undefined)
        yield* report(group, "")
        yield* Effect.forEach(halves, runGroup, { concurrency: "unbounded", discard: true })
      })

    const poll = (group: Group, first: BE.BatchInfo): Effect.Effect<BE.BatchInfo, BE.BatchError> =>
      Effect.suspend(() => {
        let last = first
        const once = Effect.flatMap(retryTransient(executor.retrieve(first.id)), (info) => {
          const changed = info.status !== last.status || !sameCounts(info.requestCounts, last.requestCounts)
          last = info
          return Effect.as(report(group, info.status, info.requestCounts), changed)
        })
        if (BE.isTerminal(first.status)) return Effect.succeed(first)
        return Effect.repeat(once, {
          schedule: BE.pollSchedule(options.pollInterval, options.pollIntervalMax),
          until: () => BE.isTerminal(last.status)
        }).pipe(Effect.map(() => last))
      })

    const finish = (group: Group, batch: BE.BatchInfo): Effect.Effect<void, BE.BatchError> =>
      Effect.gen(function*() {
        const again = yield* downloads.withPermits(1)(Effect.gen(function*() {
          const outcomes = new Map<string, BE.LineOutcome>()
          yield* retryTransient(Stream.runForEach(executor.results(batch), (outcome) =>
            Effect.sync(() => {
              outcomes.set(outcome.customId, outcome)
            })))
          const lines = yield* group.load
          const settled: Array<Settled> = []
          const expired: Array<BE.RequestLine> = []
          for (const line of lines) {
            const outcome = outcomes.get(line.customId)
            if (outcome === undefined || outcome._tag === "Expired") expired.push(line)
            else {
              settled.push({
                line,
                outcome: outcome._tag === "Answered" ? Either.right(outcome.response) : Either.left(outcome.error)
              })
            }
          }
          outcomes.clear()
          if (expired.length > 0 && group.attempt >= options.retries) {
            for (const line of expired) settled.push({ line, outcome: Either.left(BE.expiredError(group.attempt + 1)) })
            expired.length = 0
          }
          yield* journal.settle(group, settled)
          return expired
        }))
        const followUp = again.length > 0
          ? Option.some(yield* journal.spawn(group, `${group.id}r`, again, group.attempt + 1))
          : Option.none()
        yield* journal.ended(group, batch)
        yield* report(group, "ended", batch.requestCounts)
        if (Option.isSome(followUp)) yield* runGroup(followUp.value)
      })

    /** Creates the batch (waiting out limit refusals), polls it to its end; again when it failed for a limit. */
    const submit = (group: Group, fileId: string, known: Option.Option<BE.BatchInfo>) =>
      Effect.gen(function*() {
        let refusals = 0
        let batch: BE.BatchInfo | undefined = Option.getOrUndefined(known)
        while (true) {
          if (batch === undefined) {
            yield* journal.creating(group, fileId)
            const created = yield* Effect.either(retryTransient(executor.create(fileId, group.endpoint, options.metadata)))
            if (Either.isLeft(created)) {
              if (created.left.kind === "rejected") return yield* settleAll(group, failureOf(created.left))
              if (created.left.kind !== "limit") return yield* created.left
              refusals++
              if (refusals > options.limitRetries && group.size > 1) return yield* split(group)
              yield* report(group, "waiting")
              yield* Effect.sleep(limitWait(created.left, refusals, options.pollInterval))
              continue
            }
            yield* journal.created(group, created.right)
            batch = created.right
          }
          yield* report(group, batch.status, batch.requestCounts)
          const ended = yield* poll(group, batch)
          const limited = ended.status === "failed" && ended.errors.some((error) => isLimitCode(error.code))
          if (limited) {
            refusals++
            if (refusals > options.limitRetries && group.size > 1) return yield* split(group)
            yield* report(group, "waiting")
            yield* Effect.sleep(limitWait(undefined, refusals, options.pollInterval))
            batch = undefined
            continue
          }
          if (ended.status === "failed") {
            const first = ended.errors[0]
            yield* settleAll(
              group,
              new ApiError({
                status: 400,
                type: "invalid_request_error",
                ...(first === undefined ? {} : { code: first.code }),
                detail: `the batch failed validation: ${
                  ended.errors.map((error) => error.message).join("; ") || "no reason given"
                }`,
                retryable: false
              })
            )
            yield* journal.ended(group, ended)
            return yield* report(group, "ended", ended.requestCounts)
          }
          return yield* finish(group, ended)
        }
      })

    const runGroup = (group: Group): Effect.Effect<void, BE.BatchError> =>
      Effect.gen(function*() {
        yield* report(group, "waiting")
        if (group.batchId !== undefined) {
          const batch = yield* retryTransient(executor.retrieve(group.batchId))
          return yield* submit(group, batch.inputFileId, Option.some(batch))
        }
        const fileId = group.fileId !== undefined ? Option.some(group.fileId) : yield* upload(group)
        if (Option.isNone(fileId)) return yield* report(group, "")
        const adopted = group.creating === true ? yield* adopt(fileId.value) : Option.none()
        if (Option.isSome(adopted)) yield* journal.created(group, adopted.value)
        return yield* submit(group, fileId.value, adopted)
      })

    yield* Effect.forEach(groups, runGroup, { concurrency: "unbounded", discard: true })
  })

/** Splits lines into groups of at most `maxRequests` lines and `maxBytes` bytes. @internal */
export const chunk = <A>(
  items: ReadonlyArray<A>,
  bytes: (item: A) => number,
  maxRequests: number,
  maxBytes: number
): ReadonlyArray<ReadonlyArray<A>> => {
  const chunks: Array<Array<A>> = []
  let current: Array<A> = []
  let size = 0
  for (const item of items) {
    const itemBytes = bytes(item)
    if (current.length > 0 && (current.length >= maxRequests || size + itemBytes > maxBytes)) {
      chunks.push(current)
      current = []
      size = 0
    }
    current.push(item)
    size += itemBytes
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** @internal */
export const driveOptions = (options: Options, cached: number): DriveOptions => {
  const pollInterval = Duration.decode(options.pollInterval ?? "5 seconds")
  const cap = Duration.decode(options.pollIntervalMax ?? "60 seconds")
  return {
    pollInterval,
    pollIntervalMax: Duration.max(pollInterval, cap),
    retries: Math.max(0, options.retries ?? 4),
    limitRetries: Math.max(0, options.limitRetries ?? 3),
    cached,
    onProgress: options.onProgress
  }
}

/** An item's success result from a response. @internal */
export const success = (
  index: number,
  key: string,
  response: ApiRequest.ApiResponse,
  fromCache: boolean,
  deduplicated: boolean
): RM.Success => {
  const attempts = fromCache || deduplicated ? 0 : 1
  const tokens = fromCache || deduplicated ? TokenStats.empty : TokenStats.fromUsage(response.response.usage)
  // literals, not a `common` object spread into each (slow: see answer.ts `toResult`)
  return response._tag === "Chat"
    ? { _tag: "Success", index, key, attempts, fromCache, deduplicated, tokens, kind: "chat", response: response.response }
    : { _tag: "Success", index, key, attempts, fromCache, deduplicated, tokens, kind: "embedding", response: response.response }
}

/** @internal */
export const run = (
  requests: Iterable<ApiRequest.Input>,
  options: Options = {}
): Effect.Effect<BatchRunResult, BE.BatchError, BE.BatchExecutor | CacheModule.Cache> =>
  Effect.gen(function*() {
    const executor = yield* BE.BatchExecutor
    const cache = yield* CacheModule.Cache
    const useCache = options.cache ?? true
    const setOptions = options.timeToLive === undefined ? undefined : { timeToLive: options.timeToLive }
    const items = Array.from(requests)
    const results: Array<RM.ItemResult | undefined> = new Array(items.length)
    // Each key is uploaded once, under the custom_id of its first index; identical requests share it.
    const byKey = new Map<string, Array<number>>()
    const keyOf = new Map<string, string>()
    const misses = new Map<string, Array<BE.RequestLine>>()
    const kinds = new Map<number, ApiRequest.Kind>()
    let cached = 0
    for (let index = 0; index < items.length; index++) {
      const decoded = ApiRequest.decode(items[index])
      if (Either.isLeft(decoded)) {
        results[index] = { _tag: "Failure", index, key: undefined, kind: undefined, error: decoded.left, attempts: 0 }
        continue
      }
      const request = decoded.right
      kinds.set(index, request._tag === "Chat" ? "chat" : "embedding")
      const key = RequestKey.make(executor.name, request)
      const same = byKey.get(key)
      if (same !== undefined) {
        same.push(index)
        continue
      }
      const hit = useCache
        ? yield* Effect.catchAllCause(cache.get(key), (cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.succeed(Option.none()))
        : Option.none()
      if (Option.isSome(hit) && hit.value._tag === request._tag) {
        results[index] = success(index, key, hit.value, true, false)
        cached++
        continue
      }
      byKey.set(key, [index])
      const group = `${BE.endpointOf(request)} ${ApiRequest.model(request)}`
      const lines = misses.get(group) ?? []
      keyOf.set(String(index), key)
      lines.push({ customId: String(index), request })
      misses.set(group, lines)
    }
    const maxRequests = Math.max(1, Math.min(executor.maxRequests, options.batchSize ?? executor.maxRequests))
    const groups: Array<Group> = []
    let batches = 0
    const inMemory = (id: string, lines: ReadonlyArray<BE.RequestLine>, attempt: number): Group => ({
      id,
      endpoint: BE.endpointOf(lines[0]!.request),
      size: lines.length,
      attempt,
      load: Effect.succeed(lines)
    })
    for (const lines of misses.values()) {
      for (const part of chunk(lines, BE.lineBytes, maxRequests, executor.maxBytes)) {
        groups.push(inMemory(`g${groups.length}`, part, 0))
      }
    }
    const journal: Journal = {
      uploading: () => Effect.void,
      uploaded: () => Effect.void,
      creating: () => Effect.void,
      created: () => Effect.sync(() => void batches++),
      settle: (_, settled) =>
        Effect.forEach(settled, ({ line, outcome }) => {
          const key = keyOf.get(line.customId) ?? ""
          const indices = byKey.get(key) ?? []
          indices.forEach((index, i) => {
            results[index] = Either.isRight(outcome)
              ? success(index, key, outcome.right, false, i > 0)
              : { _tag: "Failure", index, key, kind: kinds.get(index), error: outcome.left, attempts: i > 0 ? 0 : 1 }
          })
          return useCache && Either.isRight(outcome)
            ? Effect.catchAllCause(cache.set(key, outcome.right, setOptions), (cause) =>
              Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.void)
            : Effect.void
        }, { concurrency: 256, discard: true }),
      spawn: (_, name, lines, attempt) => Effect.succeed(inMemory(name, lines, attempt)),
      ended: () => Effect.void
    }
    yield* drive(groups, journal, driveOptions(options, cached))
    return {
      results: results.map((result, index) =>
        result ?? {
          _tag: "Failure",
          index,
          key: undefined,
          kind: kinds.get(index),
          error: BE.expiredError(0),
          attempts: 0
        }
      ),
      batches
    }
  })
