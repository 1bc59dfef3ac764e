/**
 * `fastllm jobs --redis URL`: the open jobs of a Redis with their progress (done, failed, chunks
 * in flight) and the number of live workers.
 *
 * @since 0.2.0
 */
import type { JobQueue } from "@fastllm/redis"
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { ConfigurationError } from "./CliError.js"
import * as Redis from "./internal/redis.js"
import * as RedisJob from "./RedisJob.js"

/**
 * One line per job, for people.
 *
 * @since 0.2.0
 * @category formatting
 */
export const formatJob = (job: JobQueue.JobInfo): string => {
  const percent = job.total === 0 ? 100 : Math.floor((100 * job.done) / job.total)
  return `${job.id.slice(0, 12)}  ${job.state.padEnd(10)} ${`${job.done}/${job.total}`.padStart(15)} ${
    `${percent}%`.padStart(4)
  }  failed ${job.failed}  chunks in flight ${job.inFlight}  ${job.name}`
}

/**
 * `fastllm jobs --redis URL`.
 *
 * @since 0.2.0
 * @category commands
 */
export const command = Command.make(
  "jobs",
  { redis: RedisJob.options.redis, redisPrefix: RedisJob.options.redisPrefix },
  (args) =>
    Effect.scoped(Effect.gen(function*() {
      const { JobQueue, RedisConnection } = yield* Redis.load
      const connection = yield* RedisConnection.make({
        url: args.redis as Redacted.Redacted<string>,
        prefix: args.redisPrefix
      })
      const queue = yield* JobQueue.make().pipe(Effect.provideService(RedisConnection.RedisConnection, connection))
      const jobs = yield* queue.jobs
      const workers = yield* queue.workers
      const lines = [
        `${jobs.length} open job${jobs.length === 1 ? "" : "s"} on ${connection.displayUrl}, ${workers} live worker${
          workers === 1 ? "" : "s"
        }`,
        ...jobs.map(formatJob)
      ]
      yield* Effect.sync(() => process.stdout.write(lines.join("\n") + "\n"))
    })).pipe(Effect.mapError((error) => new ConfigurationError({ reason: error.message })))
).pipe(Command.withDescription("List the open jobs of a Redis with their progress, and the live workers"))
