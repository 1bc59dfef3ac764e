/**
 * A hand-written check of exactly what the `ChatRequest` schema accepts, for the hot path of every
 * item (ApiRequest.decode). Like responseGuard.ts it is sound, not complete: when it says yes,
 * `Schema.decodeUnknown(ChatRequest)` succeeds and returns a value equal to its input as JSON (the
 * structs are `open` or have an index signature, and nothing in the schema transforms), so the
 * input is used as it is, unknown fields and all; when it says no, the Schema decode runs and gives
 * the typed error (or, for an odd value it accepts after all, its copy). It accepts plain objects
 * and arrays only (prototype `Object.prototype` or `null`, no own `__proto__` key) whose fields are
 * enumerable (as JSON.parse and object literals make them): then a field it reads is the object's
 * own or absent, as the schema reads it.
 *
 * Departure from the obvious `Schema.decodeUnknownEither(ChatRequest)`: the Schema decode costs
 * ~3–6 µs per item, this well under 1 µs, on a path a warm rerun takes 100,000 times
 * (`npx tsx bench/lib/libSteps.ts --base 4fb4378 --only hit`). test/RequestGuard.test.ts checks it
 * against the schema on generated and mutated requests.
 *
 * @internal
 */
import { arrayOf, type Guard, isNumber, isString, optional, optionalNullable } from "./guard.js"

const isPlain = (u: unknown): u is Readonly<Record<string, unknown>> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}
const isBoolean: Guard = (u) => typeof u === "boolean"
const isInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u)
/**
 * An `open` struct. The fields that reject `undefined` (required) are read by name; the others
 * only when the object has them, found by walking its keys: a request names 3–5 of the ~30
 * optional fields, and reading each absent one by name cost more than the rest of the check.
 * An own `__proto__` key (JSON.parse makes one) is lost in the schema's copy: the schema decides.
 */
const struct = (fields: Readonly<Record<string, Guard>>): Guard => {
  const required = Object.entries(fields).filter(([, guard]) => !guard(undefined))
  const optionalFields = new Map(Object.entries(fields).filter(([, guard]) => guard(undefined)))
  return (u) => {
    if (!isPlain(u)) return false
    for (let i = 0; i < required.length; i++) {
      const [name, guard] = required[i]!
      if (!guard(u[name])) return false
    }
    for (const key in u) {
      if (key === "__proto__") return false
      const guard = optionalFields.get(key)
      if (guard !== undefined && !guard(u[key])) return false
    }
    return true
  }
}
/** `Schema.Record({ key: Schema.String, value })`: every own enumerable string key's value. */
const recordOf = (guard: Guard): Guard => (u) => {
  if (!isPlain(u)) return false
  for (const key in u) if (key === "__proto__" || !guard(u[key])) return false
  return true
}
const union = (...guards: ReadonlyArray<Guard>): Guard => (u) => guards.some((guard) => guard(u))

const maybeString = optional(isString)
const textPart = struct({ type: (u) => u === "text", text: isString })
const textContent = union(isString, arrayOf(textPart))

const knownPartTypes: ReadonlyArray<string> = ["text", "image_url", "input_audio", "file", "refusal"]
const imagePart = struct({ image_url: struct({ url: isString, detail: maybeString }) })
const audioPart = struct({ input_audio: struct({ data: isString, format: isString }) })
const filePart = struct({ file: struct({ file_data: maybeString, file_id: maybeString, filename: maybeString }) })
const refusalPart = struct({ refusal: isString })
const otherPart = struct({})

/** A user message's content part (Message.ContentPart): a known type with its fields, or another type. */
const contentPart: Guard = (u) => {
  if (!isPlain(u)) return false
  const type = u["type"]
  if (typeof type !== "string") return false
  switch (type) {
    case "text":
      return textPart(u)
    case "image_url":
      return imagePart(u)
    case "input_audio":
      return audioPart(u)
    case "file":
      return filePart(u)
    default:
      return !knownPartTypes.includes(type) && otherPart(u)
  }
}
const assistantPart: Guard = (u) => textPart(u) || (isPlain(u) && u["type"] === "refusal" && refusalPart(u))

const toolCall = struct({ id: isString, type: isString, function: struct({ name: isString, arguments: isString }) })
const anything: Guard = () => true

const byRole: Readonly<Record<string, Guard>> = {
  system: struct({ content: textContent, name: maybeString }),
  developer: struct({ content: textContent, name: maybeString }),
  user: struct({ content: union(isString, arrayOf(contentPart)), name: maybeString }),
  assistant: struct({
    content: optionalNullable(union(isString, arrayOf(assistantPart))),
    refusal: optionalNullable(isString),
    name: maybeString,
    tool_calls: optional(arrayOf(toolCall)),
    function_call: anything,
    audio: anything
  }),
  tool: struct({ content: textContent, tool_call_id: isString }),
  function: struct({ content: (u) => u === null || typeof u === "string", name: isString })
}

const message: Guard = (u) => {
  if (!isPlain(u)) return false
  const role = u["role"]
  if (typeof role !== "string" || !Object.prototype.hasOwnProperty.call(byRole, role)) return false
  return byRole[role]!(u)
}

const nonNegativeInt = (u: unknown) => isInt(u) && u >= 0
const maybeNumber = optionalNullable(isNumber)
const maybeNullableString = optionalNullable(isString)
const maybeNullableBoolean = optionalNullable(isBoolean)

/** @internal */
export const isChatRequest: Guard = struct({
  model: (u) => typeof u === "string" && u.length >= 1,
  messages: (u) => Array.isArray(u) && u.length >= 1 && arrayOf(message)(u),
  frequency_penalty: maybeNumber,
  presence_penalty: maybeNumber,
  logit_bias: optionalNullable(recordOf(isNumber)),
  logprobs: maybeNullableBoolean,
  top_logprobs: optionalNullable(nonNegativeInt),
  max_tokens: optionalNullable(nonNegativeInt),
  max_completion_tokens: optionalNullable(nonNegativeInt),
  n: optionalNullable((u) => isInt(u) && u > 0),
  seed: optionalNullable(isInt),
  stop: optionalNullable(union(isString, arrayOf(isString))),
  temperature: maybeNumber,
  top_p: maybeNumber,
  response_format: optional(struct({ type: isString })),
  tools: optional(arrayOf(struct({
    type: isString,
    function: optional(struct({ name: isString, description: maybeString, strict: maybeNullableBoolean }))
  }))),
  tool_choice: optional(union(isString, struct({ type: isString }))),
  parallel_tool_calls: optional(isBoolean),
  functions: optional(Array.isArray),
  user: maybeString,
  store: maybeNullableBoolean,
  metadata: optionalNullable(recordOf(isString)),
  stream: maybeNullableBoolean,
  service_tier: maybeNullableString,
  reasoning_effort: maybeNullableString,
  verbosity: maybeNullableString,
  modalities: optionalNullable(arrayOf(isString)),
  prompt_cache_key: maybeString,
  safety_identifier: maybeString
  // function_call, stream_options, audio, prediction, web_search_options, json_schema, parameters
  // and every unknown field are Schema.Unknown: anything passes
})
