/**
 * Answers to structured-output requests: `response_format: { type: "json_schema" }`, or a function
 * tool forced with `tool_choice`. The answer is JSON generated from the schema, deterministically
 * (the same question gets the same value in every run); with the `invalidOutput` share it is
 * content that does NOT conform (bad JSON, a missing field, a wrong enum value), and with the
 * `refusal` share a refusal, so that validation and repair can be tested over real HTTP.
 *
 * Which requests get a bad answer is decided by a hash of the seed and the whole conversation, not
 * by the order requests arrive: a rerun meets the same answers whatever the concurrency, and a
 * repair (a longer conversation) gets a draw of its own.
 *
 * Not generated: strings matching a `pattern` (a plain string is sent; the pattern is ignored).
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { mulberry32 } from "./prng.js"

type JsonObject = { readonly [key: string]: unknown }

/** The shares of bad answers, and the seed of their draws. @internal */
export interface StructuredFaults {
  /** Share (0..1) of answers that do not conform to the schema. */
  readonly invalidOutput?: number | undefined
  /** Share (0..1) of answers that are refusals (`message.refusal`). */
  readonly refusal?: number | undefined
  readonly seed?: number | undefined
}

/** How a request asks for structured output. @internal */
export interface StructuredRequest {
  readonly via: "json_schema" | "tool"
  /** The response format's or the function's name. */
  readonly name: string
  readonly schema: JsonObject
}

/** What kind of answer was given. @internal */
export type AnswerKind = "valid" | "badJson" | "missingField" | "wrongEnum" | "refusal"

/** The assistant message of a structured answer. @internal */
export interface StructuredAnswer {
  readonly kind: AnswerKind
  readonly message: {
    readonly role: "assistant"
    readonly content: string | null
    readonly refusal: string | null
    readonly tool_calls?: ReadonlyArray<{
      readonly id: string
      readonly type: "function"
      readonly function: { readonly name: string; readonly arguments: string }
    }>
  }
  readonly finishReason: "stop" | "tool_calls"
  /** The text the completion tokens are counted over. */
  readonly text: string
}

const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * The structured output a chat body asks for, if any: a `json_schema` response format with a
 * schema object, or a function tool named by `tool_choice` with a parameters object.
 *
 * @internal
 */
export const structuredRequest = (body: JsonObject): StructuredRequest | undefined => {
  const format = body.response_format
  if (isObject(format) && format.type === "json_schema" && isObject(format.json_schema)) {
    const spec = format.json_schema
    if (isObject(spec.schema)) {
      return { via: "json_schema", name: typeof spec.name === "string" ? spec.name : "output", schema: spec.schema }
    }
  }
  const choice = body.tool_choice
  if (isObject(choice) && choice.type === "function" && isObject(choice.function) && Array.isArray(body.tools)) {
    const name = choice.function.name
    for (const tool of body.tools) {
      if (isObject(tool) && isObject(tool.function) && tool.function.name === name && isObject(tool.function.parameters)) {
        return { via: "tool", name: String(name), schema: tool.function.parameters }
      }
    }
  }
  return undefined
}

const seedOf = (text: string): number => createHash("sha256").update(text).digest().readUInt32LE(0)

const resolveRef = (root: JsonObject, ref: string): JsonObject | undefined => {
  if (ref === "#") return root
  if (!ref.startsWith("#/")) return undefined
  let node: unknown = root
  for (const segment of ref.slice(2).split("/")) {
    if (!isObject(node)) return undefined
    node = node[decodeURIComponent(segment).replace(/~1/g, "/").replace(/~0/g, "~")]
  }
  return isObject(node) ? node : undefined
}

const words = ["alpha", "bravo", "delta", "echo", "golf", "kilo", "lima", "oscar", "romeo", "tango"]

const pick = <A>(random: () => number, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const numberIn = (node: JsonObject, random: () => number, integer: boolean): number => {
  const num = (key: string) => typeof node[key] === "number" ? node[key] : undefined
  const exclusiveMin = num("exclusiveMinimum")
  const exclusiveMax = num("exclusiveMaximum")
  const step = integer ? 1 : 0.01
  const low = num("minimum") ?? (exclusiveMin !== undefined ? exclusiveMin + step : 0)
  const high = num("maximum") ?? (exclusiveMax !== undefined ? exclusiveMax - step : Math.max(low, 0) + 100)
  const multipleOf = num("multipleOf")
  let value = low + random() * Math.max(0, high - low)
  if (multipleOf !== undefined && multipleOf > 0) value = Math.ceil(low / multipleOf) * multipleOf
  else value = integer ? Math.round(value) : Math.round(value * 100) / 100
  return Math.min(Math.max(value, low), high)
}

const stringFor = (node: JsonObject, random: () => number): string => {
  const n = Math.floor(random() * 1000)
  switch (node.format) {
    case "date-time":
      return new Date(Date.UTC(2026, n % 12, 1 + (n % 28), n % 24)).toISOString()
    case "date":
      return new Date(Date.UTC(2026, n % 12, 1 + (n % 28))).toISOString().slice(0, 10)
    case "time":
      return `${String(n % 24).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}:00`
    case "duration":
      return `PT${1 + (n % 59)}M`
    case "email":
      return `${pick(random, words)}${n}@example.com`
    case "hostname":
      return `${pick(random, words)}.example.com`
    case "ipv4":
      return `10.0.${n % 256}.${(n * 7) % 256}`
    case "ipv6":
      return `fd00::${n.toString(16)}`
    case "uuid":
      return createHash("sha256").update(String(random())).digest("hex").replace(
        /^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*$/,
        "$1-$2-4$3-8$4-$5"
      )
  }
  let text = `${pick(random, words)} ${pick(random, words)}`
  const min = typeof node.minLength === "number" ? node.minLength : 0
  const max = typeof node.maxLength === "number" ? node.maxLength : undefined
  while (text.length < min) text += ` ${pick(random, words)}`
  return max === undefined ? text : text.slice(0, max)
}

/**
 * A value that conforms to `node` (a schema inside `root`), drawn from `random`.
 *
 * @internal
 */
export const generate = (root: JsonObject, node: unknown, random: () => number, depth = 0): unknown => {
  if (!isObject(node)) return null
  if (typeof node.$ref === "string") return generate(root, resolveRef(root, node.$ref), random, depth + 1)
  if ("const" in node) return node.const
  if (Array.isArray(node.enum) && node.enum.length > 0) return pick(random, node.enum)
  const union = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined
  if (union !== undefined) {
    const nonNull = union.filter((member) => !(isObject(member) && member.type === "null"))
    // deep in a recursive schema, prefer null to stop
    if (nonNull.length === 0 || (depth > 6 && nonNull.length < union.length)) return null
    return generate(root, pick(random, nonNull), random, depth + 1)
  }
  const types = typeof node.type === "string" ? [node.type] : Array.isArray(node.type) ? node.type : []
  const type = depth > 6 && types.includes("null") ? "null" : types.find((t) => t !== "null") ?? types[0]
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {}
      const properties = isObject(node.properties) ? node.properties : {}
      for (const [key, property] of Object.entries(properties)) out[key] = generate(root, property, random, depth + 1)
      return out
    }
    case "array": {
      const min = typeof node.minItems === "number" ? node.minItems : 0
      const max = typeof node.maxItems === "number" ? node.maxItems : min + 3
      const length = depth > 6 ? min : Math.min(max, Math.max(min, 1 + Math.floor(random() * 3)))
      return Array.from({ length }, () => generate(root, node.items, random, depth + 1))
    }
    case "string":
      return stringFor(node, random)
    case "integer":
      return numberIn(node, random, true)
    case "number":
      return numberIn(node, random, false)
    case "boolean":
      return random() < 0.5
    default:
      return null
  }
}

/** The root object's required properties, following a root `$ref`. */
const rootObject = (schema: JsonObject): JsonObject =>
  typeof schema.$ref === "string" ? resolveRef(schema, schema.$ref) ?? schema : schema

/** A property holding an enum, searched breadth-first: `[path to its object, key, schema]`. */
const findEnum = (root: JsonObject, value: unknown): { readonly holder: Record<string, unknown>; readonly key: string } | undefined => {
  const queue: Array<readonly [unknown, unknown]> = [[value, rootObject(root)]]
  for (let visited = 0; queue.length > 0 && visited < 200; visited++) {
    const [current, rawNode] = queue.shift()!
    const node = isObject(rawNode) && typeof rawNode.$ref === "string" ? resolveRef(root, rawNode.$ref) : rawNode
    if (!isObject(node) || !isObject(current) || !isObject(node.properties)) continue
    for (const [key, property] of Object.entries(node.properties)) {
      const resolved = isObject(property) && typeof property.$ref === "string" ? resolveRef(root, property.$ref) : property
      if (isObject(resolved) && Array.isArray(resolved.enum)) {
        return { holder: current as Record<string, unknown>, key }
      }
      queue.push([current[key], resolved])
    }
  }
  return undefined
}

/**
 * Content that does not conform: a wrong enum value when the schema has an enum, else a missing
 * required field, else (and one time in three anyway) JSON cut short.
 *
 * @internal
 */
export const corrupt = (
  root: JsonObject,
  value: unknown,
  random: () => number
): { readonly kind: "badJson" | "missingField" | "wrongEnum"; readonly content: string } => {
  const json = JSON.stringify(value)
  const draw = random()
  const copy: unknown = JSON.parse(json)
  if (draw >= 1 / 3) {
    const target = findEnum(root, copy)
    if (target !== undefined && draw < 2 / 3) {
      target.holder[target.key] = `not_${String(target.holder[target.key])}`
      return { kind: "wrongEnum", content: JSON.stringify(copy) }
    }
    const top = rootObject(root)
    const required = Array.isArray(top.required) ? top.required.filter((k): k is string => typeof k === "string") : []
    if (isObject(copy) && required.length > 0) {
      const key = pick(random, required)
      delete (copy as Record<string, unknown>)[key]
      return { kind: "missingField", content: JSON.stringify(copy) }
    }
  }
  return { kind: "badJson", content: `${json.slice(0, Math.max(1, Math.floor(json.length / 2)))}` }
}

const refusalText = "I'm sorry, but I can't help with that request."

/**
 * The answer to a structured request: the draw (seed + the whole conversation) decides between a
 * refusal, a non-conforming answer and a valid one; the value itself comes from `valueSeed` (e.g.
 * model + the question), so the same question gets the same value.
 *
 * @internal
 */
export const answer = (
  request: StructuredRequest,
  conversation: string,
  valueSeed: string,
  faults: StructuredFaults = {}
): StructuredAnswer => {
  const draw = mulberry32(seedOf(`${faults.seed ?? 0}\u0000${conversation}`))()
  const random = mulberry32(seedOf(valueSeed))
  const value = generate(request.schema, rootObject(request.schema), random)
  const refusalShare = faults.refusal ?? 0
  const invalidShare = faults.invalidOutput ?? 0
  let kind: AnswerKind = "valid"
  let content = JSON.stringify(value)
  if (draw < refusalShare) {
    kind = "refusal"
  } else if (draw < refusalShare + invalidShare) {
    const bad = corrupt(request.schema, value, mulberry32(seedOf(`bad\u0000${conversation}`)))
    kind = bad.kind
    content = bad.content
  }
  if (kind === "refusal") {
    return {
      kind,
      message: { role: "assistant", content: null, refusal: refusalText },
      finishReason: "stop",
      text: refusalText
    }
  }
  if (request.via === "tool") {
    const id = `call_${createHash("sha256").update(conversation).digest("hex").slice(0, 24)}`
    return {
      kind,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [{ id, type: "function", function: { name: request.name, arguments: content } }]
      },
      finishReason: "tool_calls",
      text: content
    }
  }
  return { kind, message: { role: "assistant", content, refusal: null }, finishReason: "stop", text: content }
}

const firstUserContent = (messages: unknown): string => {
  if (!Array.isArray(messages)) return ""
  const first: unknown = messages.find((m) => isObject(m) && m.role === "user")
  return isObject(first) ? JSON.stringify(first.content ?? "") : ""
}

/**
 * Choice `index` of the reply to a chat body that asks for structured output (undefined for one
 * that does not): the value is seeded by model + first user message, the draw by the whole
 * conversation (`messages`).
 *
 * @internal
 */
export const structuredChoice = (
  body: JsonObject,
  model: string,
  index: number,
  faults: StructuredFaults | undefined
): { readonly choice: unknown; readonly kind: AnswerKind; readonly text: string } | undefined => {
  const request = structuredRequest(body)
  if (request === undefined) return undefined
  const conversation = `${JSON.stringify(body.messages)}\u0000${index}`
  const reply = answer(request, conversation, `${model}\u0000${firstUserContent(body.messages)}\u0000${index}`, faults)
  return {
    kind: reply.kind,
    text: reply.text,
    choice: { index, message: { ...reply.message, annotations: [] }, logprobs: null, finish_reason: reply.finishReason }
  }
}
