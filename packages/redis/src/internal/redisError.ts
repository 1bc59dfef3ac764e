import * as Schema from "effect/Schema"

/** @internal (re-exported by RedisConnection) */
export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  url: Schema.String,
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Redis at ${this.url}: ${this.operation} failed: ${this.reason}`
  }
}
