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
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ApiRequest from "./ApiRequest.js"
import type { ChatRequest } from "./ChatRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import { type Refusal, removeAddedNulls, toStrict } from "./internal/strictJsonSchema.js"
import * as Answer from "./internal/structuredAnswer.js"
import { InvalidRequestError, type ProviderError } from "./LLMError.js"
import * as RequestBatch from "./RequestBatch.js"
import * as RequestManager from "./RequestManager.js"
import * as TokenStats from "./TokenStats.js"

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
export type Mode = Answer.Mode

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

const unsupported = (refusal: Refusal) => new UnsupportedSchemaError({ reason: refusal.reason, path: refusal.path })

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
> = (schema) =>
  Either.flatMap(Either.mapLeft(Answer.effectJsonSchema(schema), unsupported), (json) =>
    Either.mapLeft(toStrict(json), unsupported))

/**
 * Prepares an Effect Schema for structured outputs. `name` defaults to the Schema's identifier
 * (or title) annotation, else `"output"`; `description` to its description annotation.
 *
 * @since 0.2.0
 * @category constructors
 */
export const output = <A, I>(
  schema: Schema.Schema<A, I, never>,
  options?: { readonly name?: string | undefined; readonly description?: string | undefined }
): Either.Either<Output<A>, UnsupportedSchemaError> =>
  Either.flatMap(Either.mapLeft(Answer.effectJsonSchema(schema), unsupported), (original) =>
    Either.map(Either.mapLeft(toStrict(original), unsupported), (conversion) => {
      const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
      return {
        name: Answer.safeName(options?.name ?? Answer.identifierOf(schema.ast) ?? "output"),
        description: options?.description ?? Answer.descriptionOf(schema.ast),
        jsonSchema: conversion.schema,
        notes: conversion.notes,
        decode: (value: unknown) => Either.mapLeft(decode(value), Answer.formatIssue),
        normalize: (value: unknown) => removeAddedNulls(original, value)
      }
    }))

/**
 * Prepares a plain JSON Schema for structured outputs, with your own `validate` for the answers
 * (the original schema, before the strict conversion; `Left` is the issue quoted in repairs).
 * The `fastllm` CLI uses it with ajv.
 *
 * @since 0.2.0
 * @category constructors
 */
export const outputFromJsonSchema = (
  schema: unknown,
  options: {
    readonly name: string
    readonly description?: string | undefined
    readonly validate: (value: unknown) => Either.Either<unknown, string>
  }
): Either.Either<Output<unknown>, UnsupportedSchemaError> =>
  Either.map(Either.mapLeft(toStrict(schema), unsupported), (conversion) => {
    const original = schema as { readonly [key: string]: unknown } // toStrict accepted it: a JSON object
    const description = options.description ??
      (typeof original.description === "string" ? original.description : undefined)
    return {
      name: Answer.safeName(options.name),
      description,
      jsonSchema: conversion.schema,
      notes: conversion.notes,
      decode: options.validate,
      normalize: (value: unknown) => removeAddedNulls(original, value)
    }
  })

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
  readonly tokens: TokenStats.TokenStats
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
  readonly tokens: TokenStats.TokenStats
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

const defaultMaxRepairs = 2
const defaultWindow = 256

const resolveOutput = <A, I>(options: Options<A, I>): Either.Either<Output<A>, UnsupportedSchemaError> =>
  "output" in options ? Either.right(options.output) : output(options.schema, options)

interface Tally {
  requests: number
  cached: number
  apiCalls: number
  tokens: TokenStats.TokenStats
}

const count = (tally: Tally, result: RequestManager.ItemResult) => {
  tally.requests++
  tally.apiCalls += result.attempts
  if (result._tag === "Success" && result.fromCache) tally.cached++
  if (result._tag === "Success" && !result.fromCache && !result.deduplicated) {
    tally.tokens = TokenStats.add(tally.tokens, result.tokens)
  }
}

const resultBase = (index: number, tally: Tally): ResultBase => ({
  index,
  requests: tally.requests,
  repairs: Math.max(0, tally.requests - 1),
  cached: tally.cached,
  apiCalls: tally.apiCalls,
  fromCache: tally.requests > 0 && tally.cached === tally.requests,
  tokens: tally.tokens
})

const chatOnly = new InvalidRequestError({
  reason: "structured outputs need a chat completion request (an embeddings request has no answer to decode)"
})

/** An input, or the error it already carries (an invalid `RequestBatch` item). */
type Input = Either.Either<unknown, InvalidRequestError>

const chatRequestOf = (input: Input): Either.Either<ChatRequest, InvalidRequestError> =>
  Either.flatMap(input, (json) =>
    Either.flatMap(ApiRequest.decode(json), (request) =>
      request._tag === "Chat" ? Either.right(request.request) : Either.left(chatOnly)))

/** One item: ask, read, repair while the answer is invalid and repairs are left. */
const item = <A>(
  manager: RequestManager.RequestManager.Service,
  out: Output<A>,
  options: RunOptions,
  input: Input,
  index: number
): Effect.Effect<Result<A>> =>
  Effect.gen(function*() {
    const tally: Tally = { requests: 0, cached: 0, apiCalls: 0, tokens: TokenStats.empty }
    const decoded = chatRequestOf(input)
    if (Either.isLeft(decoded)) {
      return { _tag: "Failure", ...resultBase(index, tally), error: decoded.left, response: undefined, result: undefined }
    }
    const mode = options.mode ?? "json_schema"
    const maxRepairs = Math.max(0, options.maxRepairs ?? defaultMaxRepairs)
    const request = Answer.prepare(decoded.right, out, mode)
    let messages: ReadonlyArray<Answer.Message> = request.messages
    for (;;) {
      const result = yield* manager.execute({ ...request, messages }, { kind: "chat" })
      count(tally, result)
      if (result._tag === "Failure") {
        return { _tag: "Failure", ...resultBase(index, tally), error: result.error, response: undefined, result }
      }
      if (result.kind !== "chat") {
        return { _tag: "Failure", ...resultBase(index, tally), error: chatOnly, response: undefined, result }
      }
      const reading = Answer.read(result.response, out, mode)
      switch (reading._tag) {
        case "Value":
          return { _tag: "Success", ...resultBase(index, tally), value: reading.value, response: result.response, result }
        case "Refusal":
          return {
            _tag: "Failure",
            ...resultBase(index, tally),
            error: new RefusalError({ refusal: reading.refusal, attempts: tally.requests }),
            response: result.response,
            result
          }
        case "Invalid":
          if (tally.requests > maxRepairs) {
            return {
              _tag: "Failure",
              ...resultBase(index, tally),
              error: new OutputError({
                reason: reading.reason,
                ...(reading.content === undefined ? {} : { content: reading.content }),
                issue: reading.issue,
                attempts: tally.requests
              }),
              response: result.response,
              result
            }
          }
          messages = [...messages, ...reading.followUp]
      }
    }
  })

/** The inputs of a `RequestBatch` (its invalid items with their errors), or of an iterable. */
const inputsOf = (requests: Iterable<ApiRequest.Input> | RequestBatch.RequestBatch): ReadonlyArray<Input> =>
  RequestBatch.isRequestBatch(requests)
    ? requests.items.map((batchItem): Input =>
      batchItem._tag === "Valid" ? Either.right(batchItem.request) : Either.left(batchItem.error)
    )
    : Array.from(requests, (request): Input => Either.right(request))

/**
 * The stats of a set of results (what {@link run} returns; for a {@link stream}, collect or fold
 * its results and call this at the end).
 *
 * @since 0.2.0
 * @category getters
 */
export const stats = <A>(results: Iterable<Result<A>>, elapsedMillis = 0): Stats => {
  let items = 0
  let succeeded = 0
  let outputErrors = 0
  let refusals = 0
  let requests = 0
  let repairs = 0
  let repaired = 0
  let cached = 0
  let apiCalls = 0
  let tokens = TokenStats.empty
  const failuresByKind: Record<string, number> = {}
  for (const result of results) {
    items++
    requests += result.requests
    repairs += result.repairs
    cached += result.cached
    apiCalls += result.apiCalls
    tokens = TokenStats.add(tokens, result.tokens)
    if (result._tag === "Success") {
      succeeded++
      if (result.repairs > 0) repaired++
    } else {
      failuresByKind[result.error._tag] = (failuresByKind[result.error._tag] ?? 0) + 1
      if (result.error._tag === "OutputError") outputErrors++
      if (result.error._tag === "RefusalError") refusals++
    }
  }
  return {
    items,
    succeeded,
    failed: items - succeeded,
    outputErrors,
    refusals,
    requests,
    repairs,
    repaired,
    cached,
    apiCalls,
    tokens,
    failuresByKind,
    elapsedMillis
  }
}

/**
 * Runs a batch of chat requests (plain objects, tagged requests, or a `RequestBatch`) with the
 * RequestManager in context; one typed result per item, in input order. Fails only when the
 * Schema cannot be used, before anything is sent.
 *
 * @since 0.2.0
 * @category accessors
 */
export const run = <A, I>(
  requests: Iterable<ApiRequest.Input> | RequestBatch.RequestBatch,
  options: Options<A, I>
): Effect.Effect<BatchResult<A>, UnsupportedSchemaError, RequestManager.RequestManager> =>
  Effect.gen(function*() {
    const out = yield* resolveOutput(options)
    const manager = yield* RequestManager.RequestManager
    const startedAt = yield* Clock.currentTimeMillis
    const results = yield* Effect.forEach(
      inputsOf(requests),
      (input, index) => item(manager, out, options, input, index),
      { concurrency: options.window ?? defaultWindow }
    )
    const now = yield* Clock.currentTimeMillis
    return { results, stats: stats(results, now - startedAt) }
  })

/**
 * Runs a stream of chat requests of any size; typed results come out in input order as they
 * finish, at most `window` items in progress.
 *
 * @since 0.2.0
 * @category accessors
 */
export const stream = <A, I, E, R>(
  requests: Stream.Stream<unknown, E, R>,
  options: Options<A, I>
): Stream.Stream<Result<A>, E | UnsupportedSchemaError, R | RequestManager.RequestManager> =>
  streamWith(Stream.map(requests, (request) => ({ meta: undefined, request })), options).pipe(
    Stream.map(({ result }) => result)
  )

/**
 * {@link stream} with a value of yours carried from each input to its result (a parsed line, a
 * record, an id), as `RequestManager.streamWith` does.
 *
 * @since 0.2.0
 * @category accessors
 */
export const streamWith = <M, A, I, E, R>(
  requests: Stream.Stream<RequestManager.WithMeta<M>, E, R>,
  options: Options<A, I>
): Stream.Stream<{ readonly meta: M; readonly result: Result<A> }, E | UnsupportedSchemaError, R | RequestManager.RequestManager> =>
  Stream.unwrap(Effect.gen(function*() {
    const out = yield* resolveOutput(options)
    const manager = yield* RequestManager.RequestManager
    return requests.pipe(
      Stream.zipWithIndex,
      Stream.mapEffect(
        ([input, index]) =>
          Effect.map(item(manager, out, options, Either.right(input.request), index), (result) => ({
            meta: input.meta,
            result
          })),
        { concurrency: options.window ?? defaultWindow }
      )
    )
  }))

/**
 * Runs one chat request.
 *
 * @since 0.2.0
 * @category accessors
 */
export const execute = <A, I>(
  request: unknown,
  options: Options<A, I>
): Effect.Effect<Result<A>, UnsupportedSchemaError, RequestManager.RequestManager> =>
  Effect.gen(function*() {
    const out = yield* resolveOutput(options)
    const manager = yield* RequestManager.RequestManager
    return yield* item(manager, out, options, Either.right(request), 0)
  })
