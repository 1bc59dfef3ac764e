/**
 * Request validation with OpenAI's messages, params and codes. Every check returns a
 * {@link Rejection} value instead of throwing; callers test with `isRejection`.
 *
 * @internal
 */
import { invalid, isRejection, type Rejection } from "./reply.js"

/** Token estimate used everywhere in the server: ceil(characters / 4). @internal */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

/** @internal */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const typeName = (value: unknown): string =>
  value === null
    ? "null"
    : Array.isArray(value)
    ? "an array"
    : typeof value === "string"
    ? "a string"
    : typeof value === "number"
    ? (Number.isInteger(value) ? "an integer" : "a decimal")
    : typeof value === "boolean"
    ? "a boolean"
    : "an object"

/** @internal */
export const invalidType = (param: string, expected: string, value: unknown): Rejection =>
  invalid(
    `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
    param,
    "invalid_type"
  )

/** @internal */
export const missing = (param: string): Rejection =>
  invalid(`Missing required parameter: '${param}'.`, param, "missing_required_parameter")

/** The JSON object of a request body, or OpenAI's "could not parse" 400. @internal */
export const parseBody = (body: Buffer): Record<string, unknown> | Rejection => {
  let value: unknown
  try {
    value = JSON.parse(body.toString("utf8"))
  } catch {
    value = undefined
  }
  return isRecord(value) ? value : invalid(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    null,
    null
  )
}

const messageRoles: ReadonlyArray<string> = ["system", "developer", "user", "assistant", "tool", "function"]

/** OpenAI's "below minimum" / "above maximum" error when `value` is outside [min, max]. */
const checkRange = (
  param: string,
  kind: "integer" | "decimal",
  value: number,
  min: number,
  max: number
): Rejection | undefined => {
  const [side, code, bound] = value < min
    ? ["below minimum", "below_min", `>= ${min}`]
    : value > max
    ? ["above maximum", "above_max", `<= ${max}`]
    : []
  if (side === undefined) return undefined
  return invalid(
    `Invalid '${param}': ${kind} ${side} value. Expected a value ${bound}, but got ${value} instead.`,
    param,
    `${kind}_${code}_value`
  )
}

/** @internal */
export const optionalInt = (
  body: Record<string, unknown>,
  param: string,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER
): number | undefined | Rejection => {
  const value = body[param]
  if (value === undefined || value === null) return undefined
  if (typeof value !== "number" || !Number.isInteger(value)) return invalidType(param, "an integer", value)
  return checkRange(param, "integer", value, min, max) ?? value
}

const optionalNumber = (body: Record<string, unknown>, param: string, min: number, max: number): Rejection | undefined => {
  const value = body[param]
  if (value === undefined || value === null) return undefined
  if (typeof value !== "number" || !Number.isFinite(value)) return invalidType(param, "a decimal", value)
  return checkRange(param, "decimal", value, min, max)
}

/** @internal */
export const requireModel = (body: Record<string, unknown>): string | Rejection => {
  const model = body["model"]
  if (model === undefined || model === null) return invalid("you must provide a model parameter", null, null)
  if (typeof model !== "string") return invalidType("model", "a string", model)
  if (model === "") return invalid("Invalid 'model': empty string. Expected a model name.", "model", "empty_string")
  return model
}

/** The text of a message's content: a string, or the `text` of its text parts. */
const contentText = (content: unknown, param: string): string | Rejection => {
  if (content === undefined || content === null) return ""
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return invalidType(param, "one of a string or array of objects", content)
  let text = ""
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i]
    const partParam = `${param}[${i}]`
    if (!isRecord(part)) return invalidType(partParam, "an object", part)
    const type = part["type"]
    if (typeof type !== "string") return missing(`${partParam}.type`)
    if (type === "text") {
      const partText = part["text"]
      if (typeof partText !== "string") return invalidType(`${partParam}.text`, "a string", partText)
      text += partText
    }
  }
  return text
}

/** A valid chat request, ready to answer. @internal */
export interface ChatPlan {
  readonly model: string
  readonly promptTokens: number
  readonly lastUserText: string
  readonly maxTokens: number | undefined
  readonly n: number
  /** The whole request body, for content generators that read more (e.g. `response_format`). */
  readonly body: Record<string, unknown>
}

const validateMessages = (messages: unknown): { chars: number; lastUserText: string } | Rejection => {
  if (messages === undefined || messages === null) return missing("messages")
  if (!Array.isArray(messages)) return invalidType("messages", "an array of objects", messages)
  if (messages.length === 0) {
    return invalid(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      "messages",
      "empty_array"
    )
  }
  let chars = 0
  let lastUserText = ""
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i]
    const param = `messages[${i}]`
    if (!isRecord(message)) return invalidType(param, "an object", message)
    const role = message["role"]
    if (role === undefined) return missing(`${param}.role`)
    if (typeof role !== "string" || !messageRoles.includes(role)) {
      return invalid(
        `Invalid value: '${String(role)}'. Supported values are: ${messageRoles.map((r) => `'${r}'`).join(", ")}.`,
        `${param}.role`,
        "invalid_value"
      )
    }
    const content = message["content"]
    if (content === undefined && role !== "assistant") return missing(`${param}.content`)
    const text = contentText(content, `${param}.content`)
    if (isRejection(text)) return text
    chars += text.length
    if (role === "user") lastUserText = text
  }
  return { chars, lastUserText }
}

/** @internal */
export const validateChat = (body: Record<string, unknown>): ChatPlan | Rejection => {
  const model = requireModel(body)
  if (isRejection(model)) return model
  const messages = validateMessages(body["messages"])
  if (isRejection(messages)) return messages
  const maxTokens = optionalInt(body, "max_tokens", 0)
  if (isRejection(maxTokens)) return maxTokens
  const maxCompletionTokens = optionalInt(body, "max_completion_tokens", 0)
  if (isRejection(maxCompletionTokens)) return maxCompletionTokens
  const n = optionalInt(body, "n", 1, 128)
  if (isRejection(n)) return n
  const rejected = optionalNumber(body, "temperature", 0, 2) ??
    optionalNumber(body, "top_p", 0, 1) ??
    optionalNumber(body, "frequency_penalty", -2, 2) ??
    optionalNumber(body, "presence_penalty", -2, 2)
  if (rejected !== undefined) return rejected
  const seed = optionalInt(body, "seed", Number.MIN_SAFE_INTEGER)
  if (isRejection(seed)) return seed
  const stream = body["stream"]
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    return invalidType("stream", "a boolean", stream)
  }
  if (stream === true) {
    return invalid(
      "This test server does not stream: send 'stream': false or leave it out.",
      "stream",
      "unsupported_value"
    )
  }
  return {
    model,
    promptTokens: Math.ceil(messages.chars / 4),
    lastUserText: messages.lastUserText,
    maxTokens: maxCompletionTokens ?? maxTokens,
    n: n ?? 1,
    body
  }
}

/** A valid embeddings request. @internal */
export interface EmbeddingPlan {
  readonly model: string
  readonly inputs: ReadonlyArray<string | ReadonlyArray<number>>
  readonly promptTokens: number
  readonly dimensions: number | undefined
  readonly base64: boolean
}

const isIntArray = (value: unknown): boolean =>
  Array.isArray(value) && value.every((item) => typeof item === "number" && Number.isInteger(item))

const embeddingInputs = (input: unknown): Array<string | ReadonlyArray<number>> | Rejection => {
  if (input === undefined || input === null) return missing("input")
  const inputTypes = "one of a string, an array of strings, an array of integers, or an array of integer arrays"
  if (typeof input === "string") return [input]
  if (!Array.isArray(input)) return invalidType("input", inputTypes, input)
  const items: ReadonlyArray<unknown> = input
  if (items.length === 0) {
    return invalid("Invalid 'input': empty array. Expected an array with minimum length 1.", "input", "empty_array")
  }
  if (items.every((item) => typeof item === "string")) return items.map(String)
  if (isIntArray(items)) return [items.map(Number)]
  if (items.every(isIntArray)) return items.map((item) => Array.isArray(item) ? item.map(Number) : [])
  return invalidType("input", inputTypes, input)
}

/** @internal */
export const validateEmbeddings = (body: Record<string, unknown>): EmbeddingPlan | Rejection => {
  const model = requireModel(body)
  if (isRejection(model)) return model
  const inputs = embeddingInputs(body["input"])
  if (isRejection(inputs)) return inputs
  let promptTokens = 0
  for (let i = 0; i < inputs.length; i++) {
    const item = inputs[i]!
    if (item.length === 0) {
      return invalid(`Invalid 'input[${i}]': empty input. Expected a non-empty value.`, `input[${i}]`, "empty_string")
    }
    promptTokens += typeof item === "string" ? estimateTokens(item) : item.length
  }
  const dimensions = optionalInt(body, "dimensions", 1, 4096)
  if (isRejection(dimensions)) return dimensions
  const format = body["encoding_format"]
  if (format !== undefined && format !== null && format !== "float" && format !== "base64") {
    return invalid(
      `Invalid value: '${String(format)}'. Supported values are: 'float' and 'base64'.`,
      "encoding_format",
      "invalid_value"
    )
  }
  return { model, inputs, promptTokens, dimensions, base64: format === "base64" }
}
