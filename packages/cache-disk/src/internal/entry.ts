/**
 * The stored form of one cache entry, and the mapping from cache keys to LMDB keys.
 *
 * An entry is a binary value:
 *
 * ```
 * offset 0   "FL"            2 bytes, marks a FastLLM entry
 * offset 2   format version  1 byte (FORMAT_VERSION)
 * offset 3   reserved        1 byte (0)
 * offset 4   schema id       uint32 LE, fingerprint of the ApiResponse schema that encoded the body
 * offset 8   expiresAt       float64 LE, epoch ms (Infinity: never)
 * offset 16  writtenAt       float64 LE, epoch ms (for eviction of the oldest)
 * offset 24  body            UTF-8 JSON of the ApiResponse encoded with its Schema
 * ```
 *
 * The fixed header lets `prune` and eviction read the times of a million entries without parsing
 * a single body. An entry with another version, a bad header or a body that does not decode is a
 * miss (and is removed), never a crash.
 *
 * Decoding: a full `Schema.decode` of an ApiResponse costs ~22 µs, four times everything else in a
 * hit together (LMDB read ~4 µs, JSON.parse ~5 µs), and would cap hits at ~40,000/s. The schema id
 * makes it unnecessary for the entries this very schema wrote: their body IS the output of
 * `Schema.encode(ApiResponse)`, and since ApiResponse has no transformations (checked below, at
 * load) its encoded form is its decoded form. Bodies written by any other schema (an older or newer
 * core) go through the full `Schema.decode`, and are misses if they fail it.
 *
 * @internal
 */
import { ApiRequest } from "@fastllm/core"
import { createHash } from "node:crypto"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"

const ast = ApiRequest.ApiResponse.ast

/**
 * Fingerprint of the ApiResponse schema: the first 32 bits of the SHA-256 of its AST as JSON
 * (field names, types, optionality, annotations such as "preserve excess properties").
 *
 * @internal
 */
export const SCHEMA_ID = createHash("sha256").update(JSON.stringify(ast)).digest().readUInt32LE(0)

/**
 * Whether encoding is the identity (no transformation anywhere in the schema). Only then may a
 * body written by this schema be used without decoding.
 *
 * @internal
 */
export const ENCODING_IS_IDENTITY = JSON.stringify(SchemaAST.encodedAST(ast)) === JSON.stringify(SchemaAST.typeAST(ast))

/** @internal */
export const FORMAT_VERSION = 1

/** @internal */
export const HEADER_BYTES = 24

const MAGIC_0 = 0x46 // "F"
const MAGIC_1 = 0x4c // "L"

/**
 * LMDB keys are at most 1978 bytes and cannot be empty. Keys that are empty or longer than
 * {@link MAX_DIRECT_KEY_BYTES} bytes are stored under a SHA-256 digest instead (prefixed with a
 * control character no request key starts with, so the two spaces do not meet).
 *
 * @internal
 */
export const MAX_DIRECT_KEY_BYTES = 1_000

/** @internal */
export const storageKey = (key: string): string => {
  if (key.length !== 0 && (key.length <= MAX_DIRECT_KEY_BYTES / 4 || Buffer.byteLength(key) <= MAX_DIRECT_KEY_BYTES)) {
    return key
  }
  return "\u0001sha256:" + createHash("sha256").update(key).digest("hex")
}

// Compiled on the first write, not when the module loads: a run whose answers are all cached
// never encodes one (`npx tsx bench/startup.ts --runs 11 --lines 0 --before <bundle>`,
// bench/results/issue-18-startup.md, fourth session).
const makeEncoder = () => Schema.encodeEither(ApiRequest.ApiResponse)
let encoder: ReturnType<typeof makeEncoder> | undefined
const encodeResponse: ReturnType<typeof makeEncoder> = (value, options) => (encoder ??= makeEncoder())(value, options)
const decodeResponse = Schema.decodeUnknownEither(ApiRequest.ApiResponse)

/**
 * Encodes an entry; Left with a reason when the value does not encode with its Schema.
 *
 * @internal
 */
export const encode = (
  value: ApiRequest.ApiResponse,
  expiresAt: number,
  writtenAt: number
): Either.Either<Buffer, string> =>
  Either.match(encodeResponse(value), {
    onLeft: (error) => Either.left(`the value does not encode as an ApiResponse: ${error.message}`),
    onRight: (encoded) => {
      const body = JSON.stringify(encoded)
      const buffer = Buffer.allocUnsafe(HEADER_BYTES + Buffer.byteLength(body))
      buffer[0] = MAGIC_0
      buffer[1] = MAGIC_1
      buffer[2] = FORMAT_VERSION
      buffer[3] = 0
      buffer.writeUInt32LE(SCHEMA_ID, 4)
      buffer.writeDoubleLE(expiresAt, 8)
      buffer.writeDoubleLE(writtenAt, 16)
      buffer.write(body, HEADER_BYTES, "utf8")
      return Either.right(buffer)
    }
  })

/**
 * Whether the header is one this version reads.
 *
 * @internal
 */
export const isCurrentFormat = (bytes: Uint8Array): boolean =>
  bytes.length >= HEADER_BYTES && bytes[0] === MAGIC_0 && bytes[1] === MAGIC_1 && bytes[2] === FORMAT_VERSION

/** @internal */
export const schemaId = (bytes: Buffer): number => bytes.readUInt32LE(4)

/** @internal */
export const expiresAt = (bytes: Buffer): number => bytes.readDoubleLE(8)

/** @internal */
export const writtenAt = (bytes: Buffer): number => bytes.readDoubleLE(16)

/**
 * Whether an entry is worth nothing now: another format, or expired at `now`.
 *
 * @internal
 */
export const isStale = (bytes: Buffer, now: number): boolean => !isCurrentFormat(bytes) || expiresAt(bytes) <= now

/**
 * The three outcomes of reading a stored entry.
 *
 * @internal
 */
export type Read =
  | { readonly _tag: "Hit"; readonly value: ApiRequest.ApiResponse }
  | { readonly _tag: "Expired" }
  | { readonly _tag: "Unreadable" }

const expired: Read = { _tag: "Expired" }
const unreadable: Read = { _tag: "Unreadable" }

/**
 * Reads an entry at time `now`. The bytes may be a reused buffer: nothing of it is kept.
 *
 * @internal
 */
export const read = (bytes: Buffer, now: number): Read => {
  if (!isCurrentFormat(bytes)) return unreadable
  if (expiresAt(bytes) <= now) return expired
  let json: unknown
  try {
    json = JSON.parse(bytes.toString("utf8", HEADER_BYTES))
  } catch {
    return unreadable
  }
  if (ENCODING_IS_IDENTITY && schemaId(bytes) === SCHEMA_ID && isTagged(json)) {
    // Written by `Schema.encode` of this very schema (see the module comment): already decoded.
    return { _tag: "Hit", value: json as ApiRequest.ApiResponse }
  }
  const decoded = decodeResponse(json)
  return Either.isRight(decoded) ? { _tag: "Hit", value: decoded.right } : unreadable
}

/** A last sanity check on the trusted path: the union's tag and a response object. */
const isTagged = (json: unknown): boolean =>
  typeof json === "object" && json !== null && "_tag" in json && (json._tag === "Chat" || json._tag === "Embedding") &&
  "response" in json && typeof json.response === "object" && json.response !== null
