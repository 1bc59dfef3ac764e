import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import * as ApiRequest from "../ApiRequest.js"
import type { ChatRequest } from "../ChatRequest.js"
import type { ChatResponse } from "../ChatResponse.js"
import { InvalidRequestError } from "../LLMError.js"
import * as RequestBatch from "../RequestBatch.js"
import { RequestManager } from "../RequestManager.js"
import type * as RM from "../RequestManager.js"
import type * as Structured from "../Structured.js"
import { OutputError, RefusalError, UnsupportedSchemaError } from "../Structured.js"
import * as TokenStats from "../TokenStats.js"
import { type JsonObject, removeAddedNulls, toStrict } from "./strictJsonSchema.js"

const defaultMaxRepairs = 2
const defaultWindow = 256

const unsupported = (refusal: { readonly reason: string; readonly path: string }) =>
  new UnsupportedSchemaError({ reason: refusal.reason, path: refusal.path })

/** The JSON pointer of the property path in `JSONSchema.make`'s error ("at path: ["a",0]"). */
const pointerOf = (message: string): string => {
  const match = /at path: (\[.*\])/.exec(message)
  const path = Either.getOrUndefined(Either.try((): unknown => JSON.parse(match?.[1] ?? "[]")))
  if (!Array.isArray(path) || path.length === 0) return "/"
  return path.map((segment) => typeof segment === "number" ? "/items" : `/properties/${String(segment)}`).join("")
}

/** Effect's JSON Schema of a Schema: `JSONSchema.make` throws for what has none. */
const effectJsonSchema = <A, I>(schema: Schema.Schema<A, I, never>): Either.Either<JsonObject, UnsupportedSchemaError> =>
  Either.try({
    try: (): JsonObject => ({ ...JSONSchema.make(schema) }),
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      return new UnsupportedSchemaError({
        reason: `it has no JSON Schema: ${message.split("\n").filter((line) => line.trim() !== "").join("; ")}`,
        path: pointerOf(message)
      })
    }
  })

/** @internal */
export const jsonSchema = <A, I>(schema: Schema.Schema<A, I, never>) =>
  Either.flatMap(effectJsonSchema(schema), (json) => Either.mapLeft(toStrict(json), unsupported))

/** Names OpenAI accepts for a response format or a function: `[a-zA-Z0-9_-]{1,64}`. */
const safeName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64)
  return cleaned === "" ? "output" : cleaned
}

const annotation = (ast: AST.AST, get: (ast: AST.AST) => Option.Option<string>): string | undefined => {
  const direct = Option.getOrUndefined(get(ast))
  if (direct !== undefined) return direct
  return AST.isTransformation(ast) ? Option.getOrUndefined(get(ast.to)) : undefined
}

/**
 * The issue quoted to the model: one line per problem, with the path of the value (Effect's
 * `ParseResult.ArrayFormatter`). Its text depends on the answer and the expected JSON shape, not on
 * the Schema's transformations, so a Schema changed only in how it transforms re-asks the same
 * repairs (cache hits) instead of new ones.
 */
const formatIssue = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    `- ${issue.path.length === 0 ? "" : `at ${JSON.stringify(issue.path)}: `}${issue.message}`
  ).join("\n")

/** @internal */
export const output = <A, I>(
  schema: Schema.Schema<A, I, never>,
  options?: { readonly name?: string | undefined; readonly description?: string | undefined }
): Either.Either<Structured.Output<A>, UnsupportedSchemaError> =>
  Either.flatMap(effectJsonSchema(schema), (original) =>
    Either.map(Either.mapLeft(toStrict(original), unsupported), (conversion) => {
      const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
      const name = options?.name ??
        annotation(schema.ast, AST.getIdentifierAnnotation) ??
        annotation(schema.ast, AST.getTitleAnnotation) ??
        "output"
      return {
        name: safeName(name),
        description: options?.description ?? annotation(schema.ast, AST.getDescriptionAnnotation),
        jsonSchema: conversion.schema,
        notes: conversion.notes,
        decode: (value: unknown) => Either.mapLeft(decode(value), formatIssue),
        normalize: (value: unknown) => removeAddedNulls(original, value)
      }
    }))

/** @internal */
export const outputFromJsonSchema = (
  schema: unknown,
  options: {
    readonly name: string
    readonly description?: string | undefined
    readonly validate: (value: unknown) => Either.Either<unknown, string>
  }
): Either.Either<Structured.Output<unknown>, UnsupportedSchemaError> =>
  Either.map(Either.mapLeft(toStrict(schema), unsupported), (conversion) => {
    const original = schema as JsonObject // toStrict succeeded: it is a JSON object
    const description = options.description ?? (typeof original.description === "string" ? original.description : undefined)
    return {
      name: safeName(options.name),
      description,
      jsonSchema: conversion.schema,
      notes: conversion.notes,
      decode: options.validate,
      normalize: (value: unknown) => removeAddedNulls(original, value)
    }
  })

const resolveOutput = <A, I>(options: Structured.Options<A, I>): Either.Either<Structured.Output<A>, UnsupportedSchemaError> =>
  "output" in options ? Either.right(options.output) : output(options.schema, options)

// ---------------------------------------------------------------------------------------------
// One item: ask, decode, repair
// ---------------------------------------------------------------------------------------------

type Message = ChatRequest["messages"][number]

/** What an answer turned out to be. */
type Reading<A> =
  | { readonly _tag: "Value"; readonly value: A }
  | { readonly _tag: "Refusal"; readonly refusal: string }
  | {
    readonly _tag: "Invalid"
    readonly reason: OutputError["reason"]
    readonly content: string | undefined
    readonly issue: string
    /** The conversation's next messages: the model's answer and the request to correct it. */
    readonly followUp: ReadonlyArray<Message>
  }

const schemaPrompt = (out: Structured.Output<unknown>) =>
  `Answer with one JSON object, and nothing else, that conforms to this JSON Schema` +
  `${out.description === undefined ? "" : ` (${out.description})`}:\n${JSON.stringify(out.jsonSchema)}`

/** The request as sent: the schema attached the way `mode` says. */
const prepare = (request: ChatRequest, out: Structured.Output<unknown>, mode: Structured.Mode): ChatRequest => {
  switch (mode) {
    case "json_schema":
      return request.response_format !== undefined ? request : {
        ...request,
        response_format: {
          type: "json_schema",
          json_schema: {
            name: out.name,
            ...(out.description === undefined ? {} : { description: out.description }),
            schema: out.jsonSchema,
            strict: true
          }
        }
      }
    case "json_object":
      return {
        ...request,
        response_format: request.response_format ?? { type: "json_object" },
        messages: [{ role: "system", content: schemaPrompt(out) }, ...request.messages]
      }
    case "tool": {
      // built apart: the request's `tool_choice` type names `type` only (the rest passes through)
      const toolChoice = { type: "function", function: { name: out.name } }
      return {
        ...request,
        tools: [...(request.tools ?? []), {
          type: "function",
          function: {
            name: out.name,
            ...(out.description === undefined ? {} : { description: out.description }),
            parameters: out.jsonSchema,
            strict: true
          }
        }],
        tool_choice: toolChoice
      }
    }
  }
}

const repairText = (reason: OutputError["reason"], issue: string) =>
  reason === "InvalidJson"
    ? `Your answer is not valid JSON (${issue}). Answer again with only the JSON object.`
    : reason === "NoContent"
    ? `Your answer was empty. Answer with only the JSON object.`
    : `Your answer does not match the required schema:\n${issue}\nAnswer again with only the corrected JSON object.`

const parseJson = (text: string): Either.Either<unknown, string> =>
  Either.try({ try: (): unknown => JSON.parse(text), catch: (e) => e instanceof Error ? e.message : String(e) })

/** Reads the answer of a response: the value, a refusal, or what is wrong and how to ask again. */
const read = <A>(response: ChatResponse, out: Structured.Output<A>, mode: Structured.Mode): Reading<A> => {
  const message = response.choices[0]?.message
  if (message?.refusal !== undefined && message.refusal !== null && message.refusal !== "") {
    return { _tag: "Refusal", refusal: message.refusal }
  }
  let content: string | undefined
  let followUp: (text: string) => ReadonlyArray<Message>
  if (mode === "tool") {
    const call = message?.tool_calls?.find((c) => c.function.name === out.name)
    content = call?.function.arguments
    followUp = (text) =>
      call === undefined
        ? [{ role: "assistant", content: message?.content ?? "" }, { role: "user", content: text }]
        : [
          { role: "assistant", content: null, tool_calls: [call] },
          { role: "tool", tool_call_id: call.id, content: text }
        ]
  } else {
    content = message?.content ?? undefined
    followUp = (text) => [{ role: "assistant", content: content ?? "" }, { role: "user", content: text }]
  }
  const invalid = (reason: OutputError["reason"], issue: string): Reading<A> => ({
    _tag: "Invalid",
    reason,
    content,
    issue,
    followUp: followUp(repairText(reason, issue))
  })
  if (content === undefined || content.trim() === "") {
    return invalid("NoContent", mode === "tool" ? `no call of the function ${out.name}` : "the answer has no content")
  }
  const json = parseJson(content)
  if (Either.isLeft(json)) return invalid("InvalidJson", json.left)
  const decoded = out.decode(out.normalize(json.right))
  return Either.isRight(decoded) ? { _tag: "Value", value: decoded.right } : invalid("SchemaMismatch", decoded.left)
}

interface Tally {
  requests: number
  cached: number
  apiCalls: number
  tokens: TokenStats.TokenStats
}

const count = (tally: Tally, result: RM.ItemResult) => {
  tally.requests++
  tally.apiCalls += result.attempts
  if (result._tag === "Success" && result.fromCache) tally.cached++
  if (result._tag === "Success" && !result.fromCache && !result.deduplicated) {
    tally.tokens = TokenStats.add(tally.tokens, result.tokens)
  }
}

const base = (index: number, tally: Tally): Structured.ResultBase => ({
  index,
  requests: tally.requests,
  repairs: Math.max(0, tally.requests - 1),
  cached: tally.cached,
  apiCalls: tally.apiCalls,
  fromCache: tally.requests > 0 && tally.cached === tally.requests,
  tokens: tally.tokens
})

const structuredOnly = new InvalidRequestError({
  reason: "structured outputs need a chat completion request (an embeddings request has no answer to decode)"
})

/** An input, or the error it already carries (an invalid `RequestBatch` item). */
type Input = Either.Either<unknown, InvalidRequestError>

/** An input as a decoded chat request, or why it is not one. */
const chatRequestOf = (input: Input): Either.Either<ChatRequest, InvalidRequestError> =>
  Either.flatMap(input, (json) =>
    Either.flatMap(ApiRequest.decode(json), (request) =>
      request._tag === "Chat" ? Either.right(request.request) : Either.left(structuredOnly)))

const item = <A>(
  manager: RM.RequestManager.Service,
  out: Structured.Output<A>,
  options: Structured.RunOptions,
  input: Input,
  index: number
): Effect.Effect<Structured.Result<A>> =>
  Effect.gen(function*() {
    const tally: Tally = { requests: 0, cached: 0, apiCalls: 0, tokens: TokenStats.empty }
    const decoded = chatRequestOf(input)
    if (Either.isLeft(decoded)) {
      return { _tag: "Failure", ...base(index, tally), error: decoded.left, response: undefined, result: undefined }
    }
    const mode = options.mode ?? "json_schema"
    const maxRepairs = Math.max(0, options.maxRepairs ?? defaultMaxRepairs)
    const request = prepare(decoded.right, out, mode)
    let messages: ReadonlyArray<Message> = request.messages
    for (;;) {
      const result = yield* manager.execute({ ...request, messages }, { kind: "chat" })
      count(tally, result)
      if (result._tag === "Failure") {
        return { _tag: "Failure", ...base(index, tally), error: result.error, response: undefined, result }
      }
      if (result.kind !== "chat") {
        return { _tag: "Failure", ...base(index, tally), error: structuredOnly, response: undefined, result }
      }
      const reading = read(result.response, out, mode)
      switch (reading._tag) {
        case "Value":
          return { _tag: "Success", ...base(index, tally), value: reading.value, response: result.response, result }
        case "Refusal":
          return {
            _tag: "Failure",
            ...base(index, tally),
            error: new RefusalError({ refusal: reading.refusal, attempts: tally.requests }),
            response: result.response,
            result
          }
        case "Invalid":
          if (tally.requests > maxRepairs) {
            return {
              _tag: "Failure",
              ...base(index, tally),
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

/** The inputs of a `RequestBatch`: its requests, and its invalid items as they are. */
const inputsOf = (requests: Iterable<ApiRequest.Input> | RequestBatch.RequestBatch): ReadonlyArray<Input> =>
  RequestBatch.isRequestBatch(requests)
    ? requests.items.map((batchItem): Input =>
      batchItem._tag === "Valid" ? Either.right(batchItem.request) : Either.left(batchItem.error)
    )
    : Array.from(requests, (request): Input => Either.right(request))

/** @internal */
export const stats = <A>(results: Iterable<Structured.Result<A>>, elapsedMillis = 0): Structured.Stats => {
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
    apiCalls += result.apiCalls
    tokens = TokenStats.add(tokens, result.tokens)
    cached += result.cached
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

/** @internal */
export const run = <A, I>(
  requests: Iterable<ApiRequest.Input> | RequestBatch.RequestBatch,
  options: Structured.Options<A, I>
): Effect.Effect<Structured.BatchResult<A>, UnsupportedSchemaError, RequestManager> =>
  Effect.gen(function*() {
    const out = yield* resolveOutput(options)
    const manager = yield* RequestManager
    const startedAt = yield* Clock.currentTimeMillis
    const results = yield* Effect.forEach(
      inputsOf(requests),
      (input, index) => item(manager, out, options, input, index),
      { concurrency: options.window ?? defaultWindow }
    )
    const now = yield* Clock.currentTimeMillis
    return { results, stats: stats(results, now - startedAt) }
  })

/** @internal */
export const stream = <A, I, E, R>(
  requests: Stream.Stream<unknown, E, R>,
  options: Structured.Options<A, I>
): Stream.Stream<Structured.Result<A>, E | UnsupportedSchemaError, R | RequestManager> =>
  Stream.unwrap(Effect.gen(function*() {
    const out = yield* resolveOutput(options)
    const manager = yield* RequestManager
    return requests.pipe(
      Stream.zipWithIndex,
      Stream.mapEffect(([input, index]) => item(manager, out, options, Either.right(input), index), {
        concurrency: options.window ?? defaultWindow
      })
    )
  }))

/** @internal */
export const execute = <A, I>(
  request: unknown,
  options: Structured.Options<A, I>
): Effect.Effect<Structured.Result<A>, UnsupportedSchemaError, RequestManager> =>
  Effect.gen(function*() {
    const out = yield* resolveOutput(options)
    const manager = yield* RequestManager
    return yield* item(manager, out, options, Either.right(request), 0)
  })
