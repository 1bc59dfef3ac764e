/**
 * The stored form of one cache entry, and the mapping from cache keys to LMDB keys.
 *
 * An entry is a binary value:
 *
 * ```
 * offset 0   "FL"            2 bytes, marks a FastLLM entry
 * offset 2   format version  1 byte (FORMAT_VERSION)
 * offset 3   reserved        1 byte (0)
 * offset 4   expiresAt       float64 LE, epoch ms (Infinity: never)
 * offset 12  writtenAt       float64 LE, epoch ms (for eviction of the oldest)
 * offset 20  body            UTF-8 JSON of the ApiResponse encoded with its Schema
 * ```
 *
 * The fixed header lets `prune` and eviction read the times of a million entries without parsing
 * a single body. An entry with another version, a bad header or a body that does not decode is a
 * miss (and is removed), never a crash.
 *
 * @internal
 */
import { ApiRequest } from "@fastllm/core"
import { createHash } from "node:crypto"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/** @internal */
export const FORMAT_VERSION = 1

/** @internal */
export const HEADER_BYTES = 20

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

const encodeResponse = Schema.encodeEither(ApiRequest.ApiResponse)
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
      buffer.writeDoubleLE(expiresAt, 4)
      buffer.writeDoubleLE(writtenAt, 12)
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
export const expiresAt = (bytes: Buffer): number => bytes.readDoubleLE(4)

/** @internal */
export const writtenAt = (bytes: Buffer): number => bytes.readDoubleLE(12)

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
  const decoded = decodeResponse(json)
  return Either.isRight(decoded) ? { _tag: "Hit", value: decoded.right } : unreadable
}
