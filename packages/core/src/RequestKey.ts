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
import { createHash, hash } from "node:crypto"
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
    let out = "["
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ","
      const item: unknown = value[i]
      // undefined is "null", a hole of a sparse array stays empty (as `map` + `join` always did)
      out += item === undefined ? (i in value ? "null" : "") : canonicalJson(item)
    }
    return out + "]"
  }
  return canonicalObject(value as Readonly<Record<string, unknown>>, undefined)
}

/** Object keys as JSON strings, remembered: requests repeat the same few dozen names. */
const quotedKeys = new Map<string, string>()
const quote = (key: string): string => {
  let quoted = quotedKeys.get(key)
  if (quoted === undefined) {
    quoted = JSON.stringify(key)
    if (quotedKeys.size < 4_096) quotedKeys.set(key, quoted)
  }
  return quoted
}

/**
 * `keys.sort()` for the few keys of a request's objects, in place: an insertion sort by the same
 * order (UTF-16 code units), without the work array `Array.prototype.sort` allocates per call
 * (~1.7 KB per request at 1,000 in flight: `node --conditions=@fastllm/source --import tsx
 * bench/lib/allocProfile.ts fastllm 1000 20`).
 */
const sortFew = (keys: Array<string>): void => {
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!
    let j = i - 1
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!
      j--
    }
    keys[j + 1] = key
  }
}

/**
 * An object's canonical JSON, leaving out the keys in `skip`. One string built left to right, no
 * parts arrays and no copy of the body: with the one-shot hash below, a key costs ~1.9 µs against
 * ~6 µs before on a loaded machine (`npx tsx bench/lib/libSteps.ts --base 4fb4378 --only hit`).
 */
const canonicalObject = (record: Readonly<Record<string, unknown>>, skip: ReadonlyArray<string> | undefined): string => {
  const keys = Object.keys(record)
  if (keys.length > 16) keys.sort()
  else sortFew(keys)
  let out = "{"
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const item = record[key]
    if (item === undefined || typeof item === "function" || (skip !== undefined && skip.includes(key))) continue
    if (out.length > 1) out += ","
    out += quote(key) + ":" + canonicalJson(item)
  }
  return out + "}"
}

/**
 * SHA-256 in hex. `crypto.hash` (Node ≥ 20.12) is the one-shot form: ~0.6 µs against ~2.8 µs for
 * `createHash(...).update(...).digest(...)` on a key's text (`npx tsx bench/lib/libSteps.ts
 * --base 4fb4378 --only hit`); the same digest.
 */
const sha256Hex: (text: string) => string = typeof hash === "function"
  ? (text) => hash("sha256", text, "hex")
  : (text) => createHash("sha256").update(text).digest("hex")

/**
 * What the body leaves out: the transport fields, and an own `__proto__` key, which the copy the
 * key was first computed from (`body[field] = value`) never kept.
 */
const bodySkip: ReadonlyArray<string> = [...transportFields, "__proto__"]

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
  // canonicalJson({ provider, kind, body: request minus transportFields }), keys in sorted order
  // ("body" < "kind" < "provider"), without copying the body
  const text = `{"body":${canonicalObject(request.request, bodySkip)},"kind":${JSON.stringify(request._tag)},` +
    `"provider":${JSON.stringify(provider)}}`
  return `${version}:${sha256Hex(text)}`
}
