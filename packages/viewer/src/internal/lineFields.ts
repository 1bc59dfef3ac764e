/**
 * Reads the few fields the index keeps from one output line without parsing the whole line.
 *
 * Why not `JSON.parse`: a 500-byte chat answer line costs ~14 µs to parse here (2 shared cores),
 * 14 s for a million lines; finding five keys with `indexOf` costs a fraction of that
 * (`npx tsx bench/viewer-index.ts` prints both). It is exact for JSON: a quote inside a string is
 * always escaped, so an unescaped `"name"` followed by `:` is a key, wherever it is; answer text
 * can never forge one. A line that has none of the keys expected is parsed in full instead.
 */
import type * as Cost from "../Cost.js"

/** What the index keeps of a line. */
export interface LineFields extends Cost.Usage {
  /** True when the request succeeded (HTTP 200 and no error). */
  readonly ok: boolean
  /** The error code of a failure ("" for a success). */
  readonly code: string
  /** The answering model ("" when the line has none). */
  readonly model: string
  readonly promptTokens: number
  readonly completionTokens: number
  /** Dollars, when the line carries them (`usage.cost`, as OpenRouter writes it, or `cost`). */
  readonly reported: number | undefined
  /** True when the line says it was answered from a cache (`"cached": true`). */
  readonly cached: boolean
}

/**
 * The keys the index reads, in one regular expression run over a whole chunk of lines at once
 * (irregexp scans ~1 µs of a 500-byte line; per-line `indexOf` calls cost as much as a parse).
 */
export const keys = ["status_code", "error", "model", "prompt_tokens", "completion_tokens", "cost", "cached", "code", "type", "cached_tokens"] as const

/** Matches `"key":` for every key of {@link keys}; the value starts at `lastIndex`. */
export const keyPattern = (): RegExp => new RegExp(`"(${keys.join("|")})"[ \\t\\r]*:[ \\t\\r]*`, "g")

/**
 * The slot in {@link keys} of the key matched at `index` (its opening quote), told apart by its
 * length and a letter: no substring per match.
 */
export const slotAt = (text: string, index: number, lastIndex: number): number => {
  let close = lastIndex - 1
  while (text.charCodeAt(close) !== 34) close--
  const first = text.charCodeAt(index + 1)
  switch (close - index - 1) {
    case 11:
      return 0 // status_code
    case 5:
      return first === 101 ? 1 : 2 // error, model
    case 13:
      return first === 112 ? 3 : 9 // prompt_tokens, cached_tokens
    case 17:
      return 4 // completion_tokens
    case 4:
      return first === 116 ? 8 : text.charCodeAt(index + 3) === 115 ? 5 : 7 // type, cost, code
    default:
      return 6 // cached
  }
}

/** Whether the quote at `i` is a string delimiter (not escaped): then a `"key":` there is a key. */
export const unescapedAt = (text: string, i: number): boolean => {
  let backslashes = 0
  for (let j = i - 1; j >= 0 && text.charCodeAt(j) === 92; j--) backslashes++
  return (backslashes & 1) === 0
}

const numberAt = (text: string, start: number): number | undefined => {
  if (start < 0) return undefined
  const c = text.charCodeAt(start)
  if (!(c === 45 || (c >= 48 && c <= 57))) return undefined
  let end = start + 1
  while (end < text.length) {
    const d = text.charCodeAt(end)
    if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) end++
    else break
  }
  const value = Number(text.slice(start, end))
  return Number.isFinite(value) ? value : undefined
}

/**
 * The string value at `start` (a quote), decoded; undefined when the value is not a string.
 * `decode(from, to)` turns the raw characters between the quotes into text: the line arrives as
 * latin1 (one character per byte, cheap), so strings are decoded from the bytes as UTF-8.
 */
const stringAt = (
  text: string,
  start: number,
  decode: (from: number, to: number) => string
): string | undefined => {
  if (start < 0 || text.charCodeAt(start) !== 34) return undefined
  let end = text.indexOf("\"", start + 1)
  while (end !== -1 && !unescapedAt(text, end)) end = text.indexOf("\"", end + 1)
  if (end === -1) return undefined
  const raw = decode(start + 1, end)
  if (!raw.includes("\\")) return raw
  try {
    const value: unknown = JSON.parse(`"${raw}"`)
    return typeof value === "string" ? value : undefined
  } catch {
    return undefined
  }
}

const count = (value: number | undefined) =>
  value === undefined || value < 0 ? 0 : Math.min(Math.round(value), 0xffffffff)

/**
 * The fields of one output line (OpenAI Batch output: `{id, custom_id, response, error}`), from
 * where the values of its first keys start (`starts[slot[key]]`, -1 when absent) in `text` (the
 * line's chunk as latin1); `decode(from, to)` decodes a range of `text` as UTF-8. Undefined when
 * the line has none of the keys an output line has.
 */
export const read = (
  text: string,
  starts: Int32Array,
  decode: (from: number, to: number) => string
): LineFields | undefined => {
  // slots as in `keys`: status_code, error, model, prompt_tokens, completion_tokens, cost, cached, code, type, cached_tokens
  const statusCode = numberAt(text, starts[0]!)
  const errorAt = starts[1]!
  const cost = numberAt(text, starts[5]!)
  const cachedAt = starts[6]!
  const model = stringAt(text, starts[2]!, decode) ?? ""
  const promptTokens = count(numberAt(text, starts[3]!))
  const completionTokens = count(numberAt(text, starts[4]!))
  const cachedTokens = count(numberAt(text, starts[9]!))
  const reported = cost !== undefined && cost >= 0 ? cost : undefined
  const cached = cachedAt >= 0 && text.startsWith("true", cachedAt)
  if (statusCode === 200 && (errorAt === -1 || text.startsWith("null", errorAt))) {
    return { ok: true, code: "", model, promptTokens, completionTokens, cachedTokens, reported, cached }
  }
  const code = stringAt(text, starts[7]!, decode) ?? stringAt(text, starts[8]!, decode) ??
    (statusCode !== undefined ? `http_${statusCode}` : undefined)
  if (code === undefined) return undefined
  return { ok: false, code, model, promptTokens, completionTokens, cachedTokens, reported, cached }
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const at = (u: unknown, ...path: ReadonlyArray<string>): unknown => {
  let value = u
  for (const key of path) value = isRecord(value) ? value[key] : undefined
  return value
}

const numberOr = (u: unknown) => typeof u === "number" && Number.isFinite(u) ? u : undefined
const stringOr = (u: unknown) => typeof u === "string" ? u : undefined

/**
 * The fields of a line that {@link read} could not place, from a full parse. A line that is not
 * JSON at all is a failure with code `unreadable_line`.
 */
export const parse = (line: string): LineFields => {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return {
      ok: false,
      code: "unreadable_line",
      model: "",
      promptTokens: 0,
      completionTokens: 0,
      cachedTokens: 0,
      reported: undefined,
      cached: false
    }
  }
  const statusCode = numberOr(at(json, "response", "status_code"))
  const body = at(json, "response", "body")
  const error = at(json, "error")
  const ok = statusCode === 200 && (error === null || error === undefined)
  const code = ok ? "" : stringOr(at(error, "code")) ?? stringOr(at(body, "error", "code")) ??
    stringOr(at(body, "error", "type")) ?? (statusCode !== undefined ? `http_${statusCode}` : "unknown_error")
  const cost = numberOr(at(body, "usage", "cost")) ?? numberOr(at(json, "cost"))
  return {
    ok,
    code,
    model: stringOr(at(body, "model")) ?? "",
    promptTokens: count(numberOr(at(body, "usage", "prompt_tokens"))),
    completionTokens: count(numberOr(at(body, "usage", "completion_tokens"))),
    cachedTokens: count(numberOr(at(body, "usage", "prompt_tokens_details", "cached_tokens"))),
    reported: cost !== undefined && cost >= 0 ? cost : undefined,
    cached: at(json, "cached") === true
  }
}
