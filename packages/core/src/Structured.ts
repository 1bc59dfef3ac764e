/**
 * Typed answers: from an Effect `Schema` to a decoded value per item, over the `RequestManager`.
 *
 * The request gets `response_format: { type: "json_schema", json_schema: { name, schema, strict: true } }`
 * built from the Schema with `effect/JSONSchema` and rewritten into what OpenAI's strict mode accepts
 * (every property required, `additionalProperties: false`, optional properties nullable, `$defs`
 * kept). The answer's content is decoded with the Schema itself, so refinements and
 * transformations strict mode cannot express are still checked. An answer that is not JSON, or
 * that the Schema rejects, is re-asked up to `maxRepairs` times: the same conversation plus the
 * model's answer and a user message quoting the parse error. After the last repair the item fails
 * with an {@link OutputError}; a refusal (`message.refusal`) fails at once with a
 * {@link RefusalError}.
 *
 * Every ask (the first and each repair) is a request of its own through the RequestManager: it is
 * rate limited, retried, deduplicated and cached under its own key. Decoding runs after the cache,
 * so a rerun decodes the cached answers again (and re-asks nothing that was repaired before)
 * without calling the API.
 *
 * @example
 * ```ts
 * import { Structured } from "@fastllm/core"
 * import * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * const Sentiment = Schema.Struct({
 *   label: Schema.Literal("positive", "negative", "neutral"),
 *   confidence: Schema.Number.pipe(Schema.between(0, 1))
 * })
 *
 * const program = Effect.gen(function*() {
 *   const { results, stats } = yield* Structured.run(
 *     ["I love it", "Meh"].map((text) => ({ model: "gpt-4o-mini", messages: [{ role: "user" as const, content: text }] })),
 *     { schema: Sentiment }
 *   )
 *   for (const result of results) {
 *     if (result._tag === "Success") console.log(result.value.label, result.value.confidence)
 *   }
 *   console.log(`${stats.repairs} repairs, ${stats.outputErrors} invalid answers`)
 * })
 * ```
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as ApiRequest from "./ApiRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import * as internal from "./internal/structured.js"
import type { ProviderError } from "./LLMError.js"
import type { RequestBatch } from "./RequestBatch.js"
import type * as RequestManager from "./RequestManager.js"
import type { TokenStats } from "./TokenStats.js"

/**
 * The Schema cannot be used for structured outputs: it has no JSON Schema (a `Schema.declare`d
 * type, a bigint or symbol without a JSON Schema annotation), or its JSON Schema uses what OpenAI's
 * strict mode cannot express (a record, a tuple, an unknown value, a root that is not an object).
 * Reported before any request is sent. `path` is a JSON pointer into the JSON Schema.
 *
 * @since 0.2.0
 * @category errors
 */
export class UnsupportedSchemaError extends Schema.TaggedError<UnsupportedSchemaError>()("UnsupportedSchemaError", {
  reason: Schema.String,
  path: Schema.String
}) {
  override get message(): string {
    return `The schema cannot be used for structured outputs (at ${this.path}): ${this.reason}`
  }
}

/**
 * The model's answer did not decode, even after the repairs: `content` is its last raw answer
 * (undefined when it had none), `issue` the parse error (Effect's `ParseResult` tree format, or the
 * JSON syntax error), `attempts` the answers received (the first one plus the repairs).
 *
 * @since 0.2.0
 * @category errors
 */
export class OutputError extends Schema.TaggedError<OutputError>()("OutputError", {
  reason: Schema.Literal("InvalidJson", "SchemaMismatch", "NoContent"),
  content: Schema.optional(Schema.String),
  issue: Schema.String,
  attempts: Schema.Number
}) {
  override get message(): string {
    const what = this.reason === "InvalidJson"
      ? "was not valid JSON"
      : this.reason === "NoContent"
      ? "had no content"
      : "did not match the schema"
    return `The model's answer ${what} after ${this.attempts} attempt${this.attempts === 1 ? "" : "s"}: ${this.issue}`
  }
}

/**
 * The model refused to answer (`message.refusal`). Not repaired: asking again rarely helps, and
 * the refusal is the answer to report.
 *
 * @since 0.2.0
 * @category errors
 */
export class RefusalError extends Schema.TaggedError<RefusalError>()("RefusalError", {
  refusal: Schema.String,
  attempts: Schema.Number
}) {
  override get message(): string {
    return `The model refused: ${this.refusal}`
  }
}

/**
 * What a structured item can fail with.
 *
 * @since 0.2.0
 * @category errors
 */
export type StructuredError = ProviderError | OutputError | RefusalError

/**
 * How the schema reaches the model.
 *
 * - `"json_schema"` (default): `response_format: { type: "json_schema", json_schema: { ..., strict: true } }`.
 * - `"tool"`: a function tool whose parameters are the schema, forced with `tool_choice`; the value
 *   is read from the call's arguments. For servers with tool calling but no `json_schema`.
 * - `"json_object"`: `response_format: { type: "json_object" }` and the schema in a system message.
 *   For servers with JSON mode only.
 *
 * A request that already has a `response_format` keeps it (in the json modes).
 *
 * @since 0.2.0
 * @category models
 */
export type Mode = "json_schema" | "tool" | "json_object"

/**
 * A prepared output: the strict JSON Schema sent to the model, and the decoder its answers go
 * through. Build one with {@link output} (from an Effect Schema) or {@link outputFromJsonSchema}
 * (from a JSON Schema and a validator, e.g. ajv).
 *
 * @since 0.2.0
 * @category models
 */
export interface Output<A> {
  /** `json_schema.name` (or the tool's name): a-z, A-Z, 0-9, `_` and `-`, at most 64 characters. */
  readonly name: string
  readonly description: string | undefined
  /** The strict-mode JSON Schema sent to the model. */
  readonly jsonSchema: { readonly [key: string]: unknown }
  /** What the strict conversion changed, one line each with its JSON pointer. */
  readonly notes: ReadonlyArray<string>
  /**
   * Decodes a parsed answer (nulls added by the strict conversion already removed); `Left` is the
   * issue, as quoted to the model in a repair.
   */
  readonly decode: (value: unknown) => Either.Either<A, string>
  /** Removes the nulls the strict conversion added for optional properties. */
  readonly normalize: (value: unknown) => unknown
}

/**
 * The strict-mode JSON Schema of a Schema (what {@link output} sends), with the notes of what the
 * conversion changed, or why it cannot be done.
 *
 * @since 0.2.0
 * @category constructors
 */
export const jsonSchema: <A, I>(
  schema: Schema.Schema<A, I, never>
) => Either.Either<
  { readonly schema: { readonly [key: string]: unknown }; readonly notes: ReadonlyArray<string> },
  UnsupportedSchemaError
> = internal.jsonSchema

/**
 * Prepares an Effect Schema for structured outputs. `name` defaults to the Schema's identifier
 * (or title) annotation, else `"output"`; `description` to its description annotation.
 *
 * @since 0.2.0
 * @category constructors
 */
export const output: <A, I>(
  schema: Schema.Schema<A, I, never>,
  options?: { readonly name?: string | undefined; readonly description?: string | undefined }
) => Either.Either<Output<A>, UnsupportedSchemaError> = internal.output

/**
 * Prepares a plain JSON Schema for structured outputs, with your own `validate` for the answers
 * (the original schema, before the strict conversion; `Left` is the issue quoted in repairs).
 * The `fastllm` CLI uses it with ajv.
 *
 * @since 0.2.0
 * @category constructors
 */
export const outputFromJsonSchema: (
  schema: unknown,
  options: {
    readonly name: string
    readonly description?: string | undefined
    readonly validate: (value: unknown) => Either.Either<unknown, string>
  }
) => Either.Either<Output<unknown>, UnsupportedSchemaError> = internal.outputFromJsonSchema

/**
 * Options of {@link run}, {@link stream} and {@link execute}: the Schema (or a prepared
 * {@link Output}) and how to ask.
 *
 * @since 0.2.0
 * @category models
 */
export type Options<A, I> =
  & RunOptions
  & (
    | {
      readonly schema: Schema.Schema<A, I, never>
      /** `json_schema.name`; default: the Schema's identifier annotation, else `"output"`. */
      readonly name?: string | undefined
      readonly description?: string | undefined
    }
    | { readonly output: Output<A> }
  )

/**
 * @since 0.2.0
 * @category models
 */
export interface RunOptions {
  /** Re-asks after an answer that is not valid JSON or that the Schema rejects. Default 2. */
  readonly maxRepairs?: number | undefined
  /** Default `"json_schema"`. */
  readonly mode?: Mode | undefined
  /**
   * Items in progress at once (each waits for the manager's concurrency slots). Keep it at least
   * the manager's `concurrency`. Default 256.
   */
  readonly window?: number | undefined
}

/**
 * Counters common to both outcomes of an item.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResultBase {
  /** Position of the item in its batch or stream. */
  readonly index: number
  /** Requests made for this item: the first ask plus the repairs (0 when it did not decode). */
  readonly requests: number
  /** Repair requests made. */
  readonly repairs: number
  /** Requests answered from the cache. */
  readonly cached: number
  /** Provider calls made over all the requests (retries included; 0 when all came from the cache). */
  readonly apiCalls: number
  /** Every request of the item was answered from the cache. */
  readonly fromCache: boolean
  /** Tokens paid for over all the requests (cache hits and shared answers cost nothing). */
  readonly tokens: TokenStats
}

/**
 * An item whose answer decoded: `value` is the Schema's type.
 *
 * @since 0.2.0
 * @category models
 */
export interface Success<A> extends ResultBase {
  readonly _tag: "Success"
  readonly value: A
  /** The response whose content decoded. */
  readonly response: ChatResponse
  /** The RequestManager's result of the last request. */
  readonly result: RequestManager.ChatSuccess
}

/**
 * An item that failed: a provider error (after the manager's retries), an {@link OutputError}
 * (after the repairs) or a {@link RefusalError}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Failure extends ResultBase {
  readonly _tag: "Failure"
  readonly error: StructuredError
  /** The last response received, if any (the invalid answer, or the refusal). */
  readonly response: ChatResponse | undefined
  /** The RequestManager's result of the last request (undefined when the input did not decode). */
  readonly result: RequestManager.ItemResult | undefined
}

/**
 * The outcome of one item.
 *
 * @since 0.2.0
 * @category models
 */
export type Result<A> = Success<A> | Failure

/**
 * What a structured batch cost and how it ended.
 *
 * @since 0.2.0
 * @category models
 */
export interface Stats {
  readonly items: number
  /** Items with a typed value. */
  readonly succeeded: number
  readonly failed: number
  /** Failed items whose answer never decoded. */
  readonly outputErrors: number
  /** Failed items the model refused. */
  readonly refusals: number
  /** Requests made: first asks plus repairs. */
  readonly requests: number
  /** Repair requests made. */
  readonly repairs: number
  /** Items that decoded after at least one repair. */
  readonly repaired: number
  /** Requests answered from the cache. */
  readonly cached: number
  /** Provider calls (retries included). A rerun over a warm cache makes none. */
  readonly apiCalls: number
  /** Tokens paid for, every request included. */
  readonly tokens: TokenStats
  /** Failed items by error tag. */
  readonly failuresByKind: Readonly<Record<string, number>>
  readonly elapsedMillis: number
}

/**
 * The results of {@link run}, in input order, and their stats.
 *
 * @since 0.2.0
 * @category models
 */
export interface BatchResult<A> {
  readonly results: ReadonlyArray<Result<A>>
  readonly stats: Stats
}

/**
 * Runs a batch of chat requests (plain objects, tagged requests, or a `RequestBatch`) with the
 * RequestManager in context; one typed result per item, in input order. Fails only when the
 * Schema cannot be used, before anything is sent.
 *
 * @since 0.2.0
 * @category accessors
 */
export const run: <A, I>(
  requests: Iterable<ApiRequest.Input> | RequestBatch,
  options: Options<A, I>
) => Effect.Effect<BatchResult<A>, UnsupportedSchemaError, RequestManager.RequestManager> = internal.run

/**
 * Runs a stream of chat requests of any size; typed results come out in input order as they
 * finish, at most `window` items in progress.
 *
 * @since 0.2.0
 * @category accessors
 */
export const stream: <A, I, E, R>(
  requests: Stream.Stream<unknown, E, R>,
  options: Options<A, I>
) => Stream.Stream<Result<A>, E | UnsupportedSchemaError, R | RequestManager.RequestManager> = internal.stream

/**
 * Runs one chat request.
 *
 * @since 0.2.0
 * @category accessors
 */
export const execute: <A, I>(
  request: unknown,
  options: Options<A, I>
) => Effect.Effect<Result<A>, UnsupportedSchemaError, RequestManager.RequestManager> = internal.execute

/**
 * The stats of a set of results (what {@link run} returns; for a {@link stream}, fold its results
 * and call this at the end, or keep your own counters).
 *
 * @since 0.2.0
 * @category getters
 */
export const stats: <A>(results: Iterable<Result<A>>, elapsedMillis?: number) => Stats = internal.stats
