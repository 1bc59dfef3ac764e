import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Redis } from "ioredis"
import { createHash } from "node:crypto"
import type * as JobQueue from "../JobQueue.js"
import { RedisConnection, type RedisError } from "../RedisConnection.js"

const group = "workers"
/** Chunks added per round trip while submitting. */
const chunksPerCall = 16

/* Creates the job, or joins it; a job already written out ("done") starts afresh. */
const createLua = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' then
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
  state = false
end
if not state then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'total', ARGV[2], 'chunkSize', ARGV[3], 'chunks', ARGV[4],
    'model', ARGV[5], 'createdAt', ARGV[6], 'state', 'submitting', 'submitted', 0, 'chunksDone', 0, 'done', 0, 'failed', 0)
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
  pcall(redis.call, 'XGROUP', 'CREATE', KEYS[3], '${group}', '0', 'MKSTREAM')
end
return tonumber(redis.call('HGET', KEYS[1], 'submitted'))
`

/*
 * Adds chunks ARGV[1], ARGV[1]+1, ... (payloads ARGV[2..]) as entries 0-(i+1), skipping those
 * already added: two submitters of one input never add a chunk twice, nor leave a gap.
 */
const addLua = `
local submitted = tonumber(redis.call('HGET', KEYS[1], 'submitted'))
if not submitted then return 0 end
local first = tonumber(ARGV[1])
for n = 2, #ARGV do
  local i = first + n - 2
  if i == submitted then
    redis.call('XADD', KEYS[2], '0-' .. (i + 1), 'c', i, 'd', ARGV[n])
    submitted = i + 1
  end
end
redis.call('HSET', KEYS[1], 'submitted', submitted)
return submitted
`

/* Stores a chunk's record once, counts it, and acknowledges the entry. */
const completeLua = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'done' then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'chunksDone', 1)
  redis.call('HINCRBY', KEYS[1], 'done', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'failed', ARGV[4])
end
redis.call('XACK', KEYS[3], '${group}', ARGV[5])
redis.call('XDEL', KEYS[3], ARGV[5])
return 1
`

interface QueueCommands {
  fastllmJobCreate(...args: Array<string | number>): Promise<number>
  fastllmJobAdd(...args: Array<string | number>): Promise<number>
  fastllmJobComplete(...args: Array<string | number>): Promise<number>
}

const commands = (client: Redis): QueueCommands => {
  if (!("fastllmJobCreate" in client)) {
    client.defineCommand("fastllmJobCreate", { numberOfKeys: 4, lua: createLua })
    client.defineCommand("fastllmJobAdd", { numberOfKeys: 2, lua: addLua })
    client.defineCommand("fastllmJobComplete", { numberOfKeys: 3, lua: completeLua })
  }
  return client as unknown as QueueCommands
}

/** A chunk's payload: `[line, text, valid]` triples. */
const Payload = Schema.parseJson(Schema.Array(Schema.Tuple(Schema.Number, Schema.String, Schema.Boolean)))
const encodePayload = Schema.encodeSync(Payload)
const decodePayload = Schema.decodeUnknownOption(Payload)

const JobHash = Schema.Struct({
  name: Schema.String,
  total: Schema.NumberFromString,
  chunkSize: Schema.NumberFromString,
  chunks: Schema.NumberFromString,
  model: Schema.String,
  createdAt: Schema.NumberFromString,
  state: Schema.Literal("submitting", "open", "done"),
  submitted: Schema.NumberFromString,
  chunksDone: Schema.NumberFromString,
  done: Schema.NumberFromString,
  failed: Schema.NumberFromString
})
const decodeJob = Schema.decodeUnknownOption(JobHash)

/** XREADGROUP / XAUTOCLAIM entries: `[id, [field, value, ...]]`. */
const Entries = Schema.Array(Schema.Tuple(Schema.String, Schema.Array(Schema.String)))
const decodeEntries = Schema.decodeUnknownOption(Entries)

/** @internal */
export const jobId = (options: {
  readonly contentSha256: string
  readonly chunkSize: number
  readonly model?: string | undefined
}): string =>
  createHash("sha256")
    .update(`fastllm-job-v1\n${options.chunkSize}\n${options.model ?? ""}\n${options.contentSha256}`)
    .digest("hex")
    .slice(0, 32)

/** @internal */
export const make = (
  options: JobQueue.Options = {}
): Effect.Effect<JobQueue.JobQueue.Service, never, RedisConnection | Scope.Scope> =>
  Effect.gen(function*() {
    const connection = yield* RedisConnection
    const redis = commands(connection.client)
    const p = connection.prefix
    const leaseMillis = Math.max(100, Duration.toMillis(Duration.decode(options.lease ?? "15 seconds")))
    const keys = {
      jobs: `${p}jobs`,
      workers: `${p}workers`,
      job: (id: string) => `${p}job:${id}`,
      chunks: (id: string) => `${p}job:${id}:chunks`,
      records: (id: string) => `${p}job:${id}:records`
    }
    const use = connection.use

    const info = (id: string): Effect.Effect<Option.Option<JobQueue.JobInfo>, RedisError> =>
      Effect.gen(function*() {
        const hash = yield* use("read job", (client) => client.hgetall(keys.job(id)))
        const decoded = decodeJob(hash)
        if (Option.isNone(decoded)) return Option.none()
        const job = decoded.value
        const inFlight = job.state === "done" ? 0 : yield* use("read job", (client) =>
          client.xpending(keys.chunks(id), group).then((summary) =>
            Array.isArray(summary) && typeof summary[0] === "number" ? summary[0] : 0
          , () => 0))
        return Option.some<JobQueue.JobInfo>({
          id,
          name: job.name,
          total: job.total,
          chunkSize: job.chunkSize,
          chunks: job.chunks,
          model: job.model === "" ? undefined : job.model,
          state: job.state,
          submitted: job.submitted,
          chunksDone: job.chunksDone,
          done: job.done,
          failed: job.failed,
          inFlight,
          createdAt: job.createdAt
        })
      })

    const jobIds = use("list jobs", (client) => client.zrange(keys.jobs, 0, -1))

    const jobs = Effect.flatMap(jobIds, (ids) =>
      Effect.map(Effect.forEach(ids, info, { concurrency: 16 }), (found) => found.flatMap(Option.toArray)))

    const submit: JobQueue.JobQueue.Service["submit"] = (spec, lines) =>
      Effect.gen(function*() {
        const chunks = Math.ceil(spec.total / spec.chunkSize)
        const createdAt = Date.now()
        const submitted = yield* use("submit job", () =>
          redis.fastllmJobCreate(
            keys.job(spec.id),
            keys.jobs,
            keys.chunks(spec.id),
            keys.records(spec.id),
            spec.name,
            spec.total,
            spec.chunkSize,
            chunks,
            spec.model ?? "",
            createdAt,
            spec.id
          ))
        if (submitted < chunks) {
          yield* lines.pipe(
            Stream.drop(submitted * spec.chunkSize),
            Stream.grouped(spec.chunkSize),
            Stream.map((group) => encodePayload(Chunk.toReadonlyArray(group).map((l) => [l.line, l.text, l.valid] as const))),
            Stream.grouped(chunksPerCall),
            Stream.zipWithIndex,
            Stream.runForEach(([payloads, n]) =>
              use("submit job", () =>
                redis.fastllmJobAdd(
                  keys.job(spec.id),
                  keys.chunks(spec.id),
                  submitted + n * chunksPerCall,
                  ...Chunk.toReadonlyArray(payloads)
                ))
            )
          )
        }
        yield* use("submit job", (client) =>
          client.eval(
            "if redis.call('HGET', KEYS[1], 'state') == 'submitting' then redis.call('HSET', KEYS[1], 'state', 'open') end return 1",
            1,
            keys.job(spec.id)
          ))
        return Option.getOrThrow(yield* info(spec.id))
      })

    const toChunks = (jobId: string, model: string | undefined, reply: unknown): ReadonlyArray<JobQueue.Chunk> =>
      Option.match(decodeEntries(reply), {
        onNone: () => [],
        onSome: (entries) =>
          entries.flatMap(([entryId, fields]) => {
            const index = Number(fields[fields.indexOf("c") + 1])
            const payload = decodePayload(fields[fields.indexOf("d") + 1])
            if (Option.isNone(payload) || !Number.isInteger(index)) return []
            const lines = payload.value.map(([line, text, valid]) => ({ line, text, valid }))
            return [{ jobId, model, index, lines, entryId }]
          })
      })

    const models = new Map<string, string | undefined>()
    const modelOf = (id: string) =>
      models.has(id)
        ? Effect.succeed(models.get(id))
        : Effect.map(use("read job", (client) => client.hget(keys.job(id), "model")), (model) => {
          const value = model === null || model === "" ? undefined : model
          models.set(id, value)
          return value
        })

    /** Chunks of one job: silent workers' first (XAUTOCLAIM), then new ones (XREADGROUP). */
    const takeFrom = (consumer: string, id: string, max: number) =>
      Effect.gen(function*() {
        const model = yield* modelOf(id)
        const stream = keys.chunks(id)
        const reclaimed = yield* use("take chunks", (client) =>
          client.xautoclaim(stream, group, consumer, leaseMillis, "0-0", "COUNT", max))
        const stale = Array.isArray(reclaimed) ? toChunks(id, model, reclaimed[1]) : []
        if (stale.length >= max) return stale
        const fresh = yield* use("take chunks", (client) =>
          client.xreadgroup("GROUP", group, consumer, "COUNT", max - stale.length, "STREAMS", stream, ">"))
        const entries = Array.isArray(fresh) && Array.isArray(fresh[0]) ? fresh[0][1] : []
        return [...stale, ...toChunks(id, model, entries)]
      }).pipe(
        // A job finished (its stream deleted) between listing and taking: nothing to take there.
        Effect.catchIf((error) => error.reason.includes("NOGROUP"), () => Effect.succeed([]))
      )

    const take: JobQueue.JobQueue.Service["take"] = (consumer, max, only) =>
      Effect.gen(function*() {
        const ids = only ?? (yield* jobIds)
        const taken: Array<JobQueue.Chunk> = []
        for (const id of ids) {
          if (taken.length >= max) break
          taken.push(...(yield* takeFrom(consumer, id, max - taken.length)))
        }
        return taken
      })

    const heartbeat: JobQueue.JobQueue.Service["heartbeat"] = (consumer, chunks) =>
      Effect.gen(function*() {
        const byJob = new Map<string, Array<string>>()
        for (const chunk of chunks) byJob.set(chunk.jobId, [...(byJob.get(chunk.jobId) ?? []), chunk.entryId])
        const now = Date.now()
        yield* use("heartbeat", (client) => client.zadd(keys.workers, now, consumer))
        yield* use("heartbeat", (client) => client.zremrangebyscore(keys.workers, "-inf", now - 3 * leaseMillis))
        yield* Effect.forEach(byJob, ([id, entryIds]) =>
          use("heartbeat", (client) => client.xclaim(keys.chunks(id), group, consumer, 0, ...entryIds, "JUSTID")).pipe(
            Effect.catchIf((error) => error.reason.includes("NOGROUP"), () => Effect.void)
          ), { discard: true })
      })

    const complete: JobQueue.JobQueue.Service["complete"] = (chunk, record, counts) =>
      Effect.asVoid(use("complete chunk", () =>
        redis.fastllmJobComplete(
          keys.job(chunk.jobId),
          keys.records(chunk.jobId),
          keys.chunks(chunk.jobId),
          chunk.index,
          record,
          counts.done,
          counts.failed,
          chunk.entryId
        )))

    const records: JobQueue.JobQueue.Service["records"] = (id, from, count) =>
      count <= 0 ? Effect.succeed([]) : Effect.map(
        use("read results", (client) =>
          client.hmget(keys.records(id), ...Array.from({ length: count }, (_, i) => String(from + i)))),
        (values) => values.map((value) => value ?? undefined)
      )

    const finish: JobQueue.JobQueue.Service["finish"] = (id) =>
      Effect.asVoid(use("finish job", (client) =>
        client.multi()
          .hset(keys.job(id), "state", "done")
          .expire(keys.job(id), 86_400)
          .del(keys.chunks(id), keys.records(id))
          .zrem(keys.jobs, id)
          .exec()))

    const hasWork = Effect.map(jobs, (all) =>
      all.some((job) => job.chunksDone < (job.state === "open" ? job.chunks : job.submitted)))

    const workers = use("list workers", (client) => client.zcount(keys.workers, Date.now() - 3 * leaseMillis, "+inf"))

    return {
      submit,
      job: info,
      jobs,
      workers,
      take,
      heartbeat,
      retire: (consumer) => Effect.asVoid(use("retire worker", (client) => client.zrem(keys.workers, consumer))),
      complete,
      records,
      finish,
      hasWork
    } satisfies JobQueue.JobQueue.Service
  })
