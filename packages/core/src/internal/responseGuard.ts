/**
 * A hand-written check (ChatResponse.ts, `decodeUnknownEither`) of exactly what the `ChatResponse` schema accepts, for the hot path of every
 * reply. It is sound, not complete: when it says yes, `Schema.decodeUnknown(ChatResponse)` succeeds
 * and returns a value equal to its input (the structs are `open` and have no transformations), so
 * the parsed JSON is returned as it is, unknown fields and all; when it says no, the Schema decode
 * runs and produces the typed error. Departure from the obvious `Schema.decodeUnknownEither`:
 * the Schema decode costs ~13 µs per reply, this ~0.3 µs (`npx tsx bench/lib/responseDecode.ts`).
 * test/ResponseGuard.test.ts checks it against the schema on generated values.
 *
 * @internal
 */
import { arrayOf, type Guard, isNumber, isString, optional, optionalNullable } from "./guard.js"

const isObject = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === "object" && u !== null && !Array.isArray(u)
const struct = (fields: Readonly<Record<string, Guard>>): Guard => {
  const entries = Object.entries(fields)
  return (u) => {
    if (!isObject(u)) return false
    for (let i = 0; i < entries.length; i++) {
      const [name, guard] = entries[i]!
      if (!guard(u[name])) return false
    }
    return true
  }
}

const toolCall = struct({
  id: isString,
  type: isString,
  function: struct({ name: isString, arguments: isString })
})

const maybeNumber = optionalNullable(isNumber)

const usage = struct({
  prompt_tokens: isNumber,
  completion_tokens: optional(isNumber),
  total_tokens: isNumber,
  prompt_tokens_details: optionalNullable(struct({ cached_tokens: maybeNumber, audio_tokens: maybeNumber })),
  completion_tokens_details: optionalNullable(struct({
    reasoning_tokens: maybeNumber,
    audio_tokens: maybeNumber,
    accepted_prediction_tokens: maybeNumber,
    rejected_prediction_tokens: maybeNumber
  }))
})

const maybeString = optionalNullable(isString)

const message = struct({
  role: optional(isString),
  content: maybeString,
  refusal: maybeString,
  tool_calls: optionalNullable(arrayOf(toolCall)),
  // function_call, audio, annotations are Schema.Unknown: anything passes
  reasoning_content: maybeString
})

const choice = struct({
  index: isNumber,
  message,
  finish_reason: maybeString
})

/** @internal */
export const isChatResponse: Guard = struct({
  id: isString,
  object: optional(isString),
  created: optional(isNumber),
  model: isString,
  choices: arrayOf(choice),
  usage: optionalNullable(usage),
  system_fingerprint: maybeString,
  service_tier: maybeString
})
