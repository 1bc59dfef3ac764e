import * as Effect from "effect/Effect"
import type { RedisConnection, RedisError } from "../RedisConnection.js"

/** Escapes Redis glob characters, so a prefix matches only itself. @internal */
export const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)

/**
 * Unlinks every key matching `pattern` with SCAN + UNLINK, a thousand keys at a time: unlike
 * `KEYS` (what `@effect/experimental`'s Redis persistence uses), SCAN never blocks the server on a
 * big keyspace, and UNLINK frees the memory in the background.
 *
 * @internal
 */
export const unlinkMatching = (
  connection: RedisConnection.Service,
  pattern: string
): Effect.Effect<number, RedisError> => {
  const loop = (cursor: string, removed: number): Effect.Effect<number, RedisError> =>
    Effect.flatMap(
      connection.use("scan", (client) => client.scan(cursor, "MATCH", pattern, "COUNT", 1000)),
      ([next, keys]) => {
        const unlinked = keys.length === 0
          ? Effect.succeed(0)
          : connection.use("unlink", (client) => client.unlink(...keys))
        return Effect.flatMap(unlinked, (n) => next === "0" ? Effect.succeed(removed + n) : loop(next, removed + n))
      }
    )
  return loop("0", 0)
}
