/**
 * A job queue on Redis Streams: a job is the lines of one input file, cut into chunks; any number
 * of workers take chunks through one consumer group, and a dead worker's chunks pass to another.
 *
 * - **Jobs are keyed by content**: the job id is a hash of the input (and the options that change
 *   its requests), so submitting the same input again joins the job instead of duplicating it, and
 *   a submitter killed half way resumes where it stopped (chunk `i` is stream entry `0-(i+1)`, and
 *   Redis refuses an entry id it already has).
 * - **Chunks, not items**: one stream entry holds `chunkSize` lines, so a million items are ten
 *   thousand queue operations, not a million.
 * - **At least once**: a worker takes chunks with XREADGROUP, keeps the ones it works on fresh
 *   (XCLAIM to itself, resetting their idle time), and acknowledges each with its result record
 *   (XACK + XDEL). A chunk idle for longer than the lease (its worker died) is taken by the next
 *   worker that asks (XAUTOCLAIM). A chunk may thus run twice; the shared cache and its claims make
 *   the second run cost no API call, and the first record written wins.
 * - **Only request lines go to Redis**: never API keys, base URLs or headers (each worker uses its own).
 *
 * Why Streams and not BullMQ 5 or `@effect/experimental`'s PersistedQueue, measured with
 * `npx tsx bench/redis-choices.ts` (bench/results/redis-choices.md): BullMQ turned chunks over
 * faster in that bench (1,673 vs 1,250 chunks/s processed, best of 3, 8 at a time, load average 8),
 * but at 100 lines a chunk this queue moves ~125,000 items/s, ~20x what one worker process sends
 * (bench/results/redis.md), so the queue is not what limits a job, and BullMQ would bring
 * a second job model beside the content-keyed jobs, chunk records and takeover kept here (its
 * limiter counts jobs, not tokens). PersistedQueue/Redis 0.61 is LIFO and re-queues work in
 * progress every 30 s (fixed only in Effect 4).
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/jobQueue.js"
import type { RedisConnection, RedisError } from "./RedisConnection.js"

/**
 * One input line of a job: its 1-based line number in the file, its text, and whether its bytes
 * were valid UTF-8.
 *
 * @since 0.2.0
 * @category models
 */
export interface Line {
  readonly line: number
  readonly text: string
  readonly valid: boolean
}

/**
 * What identifies a job and how it is cut.
 *
 * @since 0.2.0
 * @category models
 */
export interface JobSpec {
  /** The content hash (see {@link jobId}). */
  readonly id: string
  /** A name for people: the input file's name. */
  readonly name: string
  /** Non-blank lines in the input. */
  readonly total: number
  /** Lines per chunk. */
  readonly chunkSize: number
  /** Replaces the model of every request (part of the id). */
  readonly model?: string | undefined
}

/**
 * A job as stored: its spec, how far submission got, and its counters.
 *
 * @since 0.2.0
 * @category models
 */
export interface JobInfo {
  readonly id: string
  readonly name: string
  readonly total: number
  readonly chunkSize: number
  readonly chunks: number
  readonly model: string | undefined
  /** `"submitting"` while its chunks are being added, then `"open"`, `"done"` once written out. */
  readonly state: "submitting" | "open" | "done"
  /** Chunks added so far. */
  readonly submitted: number
  /** Chunks with a result record. */
  readonly chunksDone: number
  /** Items finished (succeeded or failed) and failed, over the chunks done. */
  readonly done: number
  readonly failed: number
  /** Chunks taken by a worker and not yet acknowledged. */
  readonly inFlight: number
  readonly createdAt: number
}

/**
 * A chunk taken by a worker.
 *
 * @since 0.2.0
 * @category models
 */
export interface Chunk {
  readonly jobId: string
  /** The job's model override. */
  readonly model: string | undefined
  /** 0-based chunk number; its first item has position `index * chunkSize`. */
  readonly index: number
  readonly lines: ReadonlyArray<Line>
  /** The stream entry id (for acknowledgement). */
  readonly entryId: string
}

/**
 * The queue's tag.
 *
 * @since 0.2.0
 * @category tags
 */
export class JobQueue extends Context.Tag("@fastllm/redis/JobQueue")<JobQueue, JobQueue.Service>() {}

/**
 * @since 0.2.0
 */
export declare namespace JobQueue {
  /**
   * @since 0.2.0
   * @category models
   */
  export interface Service {
    /**
     * Creates the job (or joins it when it exists), then adds the chunks not added yet from
     * `lines` (the input's non-blank lines, in order) and marks it open. A job found `"done"` is
     * started afresh (its answers are in the cache).
     */
    readonly submit: <E, R>(
      spec: JobSpec,
      lines: Stream.Stream<Line, E, R>
    ) => Effect.Effect<JobInfo, RedisError | E, R>
    /** The job, if it exists. */
    readonly job: (id: string) => Effect.Effect<Option.Option<JobInfo>, RedisError>
    /** Every job not yet written out, oldest first. */
    readonly jobs: Effect.Effect<ReadonlyArray<JobInfo>, RedisError>
    /** Live workers (seen within three heartbeats). */
    readonly workers: Effect.Effect<number, RedisError>
    /**
     * Up to `max` chunks for `consumer`: first chunks whose worker went silent for longer than the
     * lease, then new ones, from the jobs given (default: every open job).
     */
    readonly take: (
      consumer: string,
      max: number,
      jobIds?: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyArray<Chunk>, RedisError>
    /** Removes `consumer` from the live workers (it stops). */
    readonly retire: (consumer: string) => Effect.Effect<void, RedisError>
    /** Keeps chunks taken by `consumer` from being taken over, and marks the worker alive. */
    readonly heartbeat: (consumer: string, chunks: Iterable<Chunk>) => Effect.Effect<void, RedisError>
    /**
     * Stores a chunk's result record (the first one stored wins), counts its items, and
     * acknowledges it.
     */
    readonly complete: (
      chunk: Chunk,
      record: string,
      counts: { readonly done: number; readonly failed: number }
    ) => Effect.Effect<void, RedisError>
    /** The result records of chunks `from` .. `from + count - 1` (none where not done yet). */
    readonly records: (
      jobId: string,
      from: number,
      count: number
    ) => Effect.Effect<ReadonlyArray<string | undefined>, RedisError>
    /** Marks a job written out: its chunks and records are deleted, its summary kept for a day. */
    readonly finish: (jobId: string) => Effect.Effect<void, RedisError>
    /** Whether any job has chunks without a record (work left for some worker). */
    readonly hasWork: Effect.Effect<boolean, RedisError>
  }
}

/**
 * Options of the queue.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * How long a taken chunk may go without its worker's heartbeat before another worker takes it
   * (workers beat every third of it). Default 15 seconds.
   */
  readonly lease?: Duration.DurationInput | undefined
}

/**
 * The id of a job: a hash of the input's SHA-256 and the options that change its requests or its
 * cutting, so the same input submitted again is the same job.
 *
 * @since 0.2.0
 * @category constructors
 */
export const jobId: (options: {
  readonly contentSha256: string
  readonly chunkSize: number
  readonly model?: string | undefined
}) => string = internal.jobId

/**
 * Builds the queue on the {@link RedisConnection} in context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<JobQueue.Service, never, RedisConnection | Scope.Scope> =
  internal.make

/**
 * The queue as a layer.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<JobQueue, never, RedisConnection> =>
  Layer.scoped(JobQueue, make(options))
