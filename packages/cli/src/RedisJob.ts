/**
 * What `fastllm run --redis`, `fastllm worker` and `fastllm jobs` share: the Redis options, and the
 * record a worker stores for each chunk it finished.
 *
 * @since 0.2.0
 */
import { LLMError } from "@fastllm/core"
import * as Options from "@effect/cli/Options"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as Flags from "./Flags.js"

/**
 * The options `worker` and `run --redis` share: where Redis is, and the engine's settings.
 *
 * @since 0.2.0
 * @category options
 */
export const options = {
  redis: Options.redacted("redis").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription("Redis URL (redis://[:password@]host:port[/db]): shared cache, global rate limits, job queue")
  ),
  redisPrefix: Options.text("redis-prefix").pipe(
    Options.withPseudoName("PREFIX"),
    Options.withDescription("Prefix of every Redis key (one deployment per prefix)"),
    Options.withDefault("fastllm:")
  ),
  lease: Flags.duration("lease", {
    description: "How long a dead worker's chunks and claims wait before another takes them",
    fallback: "15s"
  }).pipe(Options.withDefault(Duration.seconds(15)))
}

/**
 * The Redis options `run` takes: `--redis URL` (optional there: it turns the rest on),
 * `--redis-prefix` and `--lease`.
 *
 * @since 0.2.0
 * @category options
 */
export const runOptions = {
  redis: options.redis.pipe(Options.optional),
  redisPrefix: options.redisPrefix,
  lease: options.lease
}

/**
 * A chunk's result record: per line, `null` (answered: the answer is in the shared cache; or not
 * a request at all, which the writer finds out itself) or the item's failure.
 *
 * @since 0.2.0
 * @category models
 */
export const ChunkRecord = Schema.parseJson(Schema.Array(Schema.NullOr(Schema.Struct({
  kind: Schema.NullOr(Schema.Literal("chat", "embedding")),
  error: LLMError.ProviderError
}))))

