/**
 * The parts of `Structured` below the batch: the JSON Schema of an Effect Schema, the request as
 * sent in each mode, and the reading of an answer (a value, a refusal, or what is wrong with it and
 * the follow-up messages of its repair). No import of the public module: these take plain shapes.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type { ChatRequest } from "../ChatRequest.js"
import type { ChatResponse } from "../ChatResponse.js"
import type { JsonObject, Refusal } from "./strictJsonSchema.js"

/** How the schema reaches the model (`Structured.Mode`). @internal */
export type Mode = "json_schema" | "tool" | "json_object"

/** What an output must offer to be asked for and read (`Structured.Output`). @internal */
export interface OutputSpec<A> {
  readonly name: string
  readonly description: string | undefined
  readonly jsonSchema: JsonObject
  readonly decode: (value: unknown) => Either.Either<A, string>
  readonly normalize: (value: unknown) => unknown
}

/** Why an answer did not decode (`OutputError.reason`). @internal */
export type InvalidReason = "InvalidJson" | "SchemaMismatch" | "NoContent"

/** The JSON pointer of the property path in `JSONSchema.make`'s error ("at path: ["a",0]"). */
const pointerOf = (message: string): string => {
  const match = /at path: (\[.*\])/.exec(message)
  const path = Either.getOrUndefined(Either.try((): unknown => JSON.parse(match?.[1] ?? "[]")))
  if (!Array.isArray(path) || path.length === 0) return "/"
  return path.map((segment) => typeof segment === "number" ? "/items" : `/properties/${String(segment)}`).join("")
}

/**
 * Effect's JSON Schema of a Schema (`JSONSchema.make` throws for what has none: the reason and
 * where).
 *
 * @internal
 */
export const effectJsonSchema = <A, I>(schema: Schema.Schema<A, I, never>): Either.Either<JsonObject, Refusal> =>
  Either.try({
    try: (): JsonObject => ({ ...JSONSchema.make(schema) }),
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      return {
        reason: `it has no JSON Schema: ${message.split("\n").filter((line) => line.trim() !== "").join("; ")}`,
        path: pointerOf(message)
      }
    }
  })

/**
 * A name OpenAI accepts for a response format or a function: `[a-zA-Z0-9_-]{1,64}`.
 *
 * @internal
 */
export const safeName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64)
  return cleaned === "" ? "output" : cleaned
}

/**
 * A string annotation of a Schema (or of the type side of a transformation, e.g. a `Schema.Class`).
 *
 * @internal
 */
export const annotation = (ast: AST.AST, get: (ast: AST.AST) => Option.Option<string>): string | undefined => {
  const direct = Option.getOrUndefined(get(ast))
  if (direct !== undefined) return direct
  return AST.isTransformation(ast) ? Option.getOrUndefined(get(ast.to)) : undefined
}

/** @internal */
export const identifierOf = (ast: AST.AST): string | undefined =>
  annotation(ast, AST.getIdentifierAnnotation) ?? annotation(ast, AST.getTitleAnnotation)

/** @internal */
export const descriptionOf = (ast: AST.AST): string | undefined => annotation(ast, AST.getDescriptionAnnotation)

/**
 * The issue quoted to the model: one line per problem, with the path of the value (Effect's
 * `ParseResult.ArrayFormatter`). Its text depends on the answer and the expected JSON shape, not on
 * the Schema's transformations, so a Schema changed only in how it transforms re-asks the same
 * repairs (cache hits) instead of new ones.
 *
 * @internal
 */
export const formatIssue = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    `- ${issue.path.length === 0 ? "" : `at ${JSON.stringify(issue.path)}: `}${issue.message}`
  ).join("\n")

/** @internal */
export type Message = ChatRequest["messages"][number]

/** What an answer turned out to be. @internal */
export type Reading<A> =
  | { readonly _tag: "Value"; readonly value: A }
  | { readonly _tag: "Refusal"; readonly refusal: string }
  | {
    readonly _tag: "Invalid"
    readonly reason: InvalidReason
    readonly content: string | undefined
    readonly issue: string
    /** The conversation's next messages: the model's answer and the request to correct it. */
    readonly followUp: ReadonlyArray<Message>
  }

const schemaPrompt = (out: OutputSpec<unknown>) =>
  `Answer with one JSON object, and nothing else, that conforms to this JSON Schema` +
  `${out.description === undefined ? "" : ` (${out.description})`}:\n${JSON.stringify(out.jsonSchema)}`

/**
 * The request as sent: the schema attached the way `mode` says (a request's own `response_format`
 * is kept in the json modes).
 *
 * @internal
 */
export const prepare = (request: ChatRequest, out: OutputSpec<unknown>, mode: Mode): ChatRequest => {
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

const repairText = (reason: InvalidReason, issue: string) =>
  reason === "InvalidJson"
    ? `Your answer is not valid JSON (${issue}). Answer again with only the JSON object.`
    : reason === "NoContent"
    ? `Your answer was empty (${issue}). Answer with only the JSON object.`
    : `Your answer does not match the required schema:\n${issue}\nAnswer again with only the corrected JSON object.`

const parseJson = (text: string): Either.Either<unknown, string> =>
  Either.try({ try: (): unknown => JSON.parse(text), catch: (e) => e instanceof Error ? e.message : String(e) })

/**
 * Reads the answer of a response: the value, a refusal, or what is wrong and how to ask again.
 *
 * @internal
 */
export const read = <A>(response: ChatResponse, out: OutputSpec<A>, mode: Mode): Reading<A> => {
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
  const invalid = (reason: InvalidReason, issue: string): Reading<A> => ({
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
