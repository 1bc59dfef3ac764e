/**
 * The cache and deduplication key of a request: a versioned SHA-256 over canonical JSON of the
 * provider name, the request kind and the whole request body minus transport-only fields.
 *
 * Same request, same key, in every process, forever: property order does not matter, every field
 * that can change the answer does (messages incl. images, tools, tool_choice, response_format,
 * seed, temperature, n, stop, max_tokens, unknown pass-through fields), and secrets never enter it
 * (API keys, headers and timeouts are not part of a request at all).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { ApiRequest } from "./ApiRequest.js"

/**
 * The key format version; bump it when the key's input changes.
 *
 * @since 0.1.0
 * @category constants
 */
export const version = "v1"

/**
 * Body fields that change how the answer is delivered, not what it is.
 *
 * @since 0.1.0
 * @category constants
 */
export const transportFields: ReadonlyArray<string> = ["stream", "stream_options"]

/**
 * JSON with object keys sorted recursively and no whitespace. `undefined` properties are left out,
 * as `JSON.stringify` does.
 *
 * @since 0.1.0
 * @category canonical json
 */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    return JSON.stringify(value) ?? "null"
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => item === undefined ? "null" : canonicalJson(item)).join(",")}]`
  }
  const record = value as Readonly<Record<string, unknown>>
  const parts: Array<string> = []
  for (const key of Object.keys(record).sort()) {
    const item = record[key]
    if (item === undefined || typeof item === "function") continue
    parts.push(`${JSON.stringify(key)}:${canonicalJson(item)}`)
  }
  return `{${parts.join(",")}}`
}

/**
 * The key of a request sent through the provider named `provider`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { ApiRequest, RequestKey } from "@fastllm/core"
 *
 * const key = RequestKey.make("openai", ApiRequest.chat({
 *   model: "gpt-4o-mini",
 *   messages: [{ role: "user", content: "hi" }]
 * }))
 * // "v1:2c4f…" (64 hex digits after the prefix)
 * ```
 */
export const make = (provider: string, request: ApiRequest): string => {
  const body: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(request.request)) {
    if (!transportFields.includes(field)) body[field] = value
  }
  const hash = createHash("sha256")
    .update(canonicalJson({ provider, kind: request._tag, body }))
    .digest("hex")
  return `${version}:${hash}`
}
