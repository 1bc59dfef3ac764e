import * as Effect from "effect/Effect"
import type { RedisConnection, RedisError } from "../RedisConnection.js"

/**
 * GETs issued in the same event-loop turn, sent as one MGET (at most `maxBatch` keys each): one
 * command for Redis to parse and one reply for the client to read, instead of one per key.
 * Measured with `npm run bench -- redis` (section "Redis cache hits"): see bench/RESULTS.md.
 *
 * @internal
 */
export const makeBatchedGet = (
  connection: RedisConnection.Service,
  maxBatch = 512
): (key: string) => Effect.Effect<string | null, RedisError> => {
  let pending: Array<{ readonly key: string; readonly resume: (result: Effect.Effect<string | null, RedisError>) => void }> =
    []
  const flush = () => {
    const batch = pending
    pending = []
    for (let start = 0; start < batch.length; start += maxBatch) {
      const part = batch.slice(start, start + maxBatch)
      Effect.runFork(
        connection.use("get", (client) => client.mget(part.map((p) => p.key))).pipe(
          Effect.match({
            onFailure: (error) => {
              for (const p of part) p.resume(Effect.fail(error))
            },
            onSuccess: (values) => {
              for (let i = 0; i < part.length; i++) part[i]!.resume(Effect.succeed(values[i] ?? null))
            }
          })
        )
      )
    }
  }
  return (key) =>
    Effect.async<string | null, RedisError>((resume) => {
      pending.push({ key, resume })
      if (pending.length === 1) setImmediate(flush)
    })
}
