/*
 * The stored form of one Redis cache entry: one string,
 *
 *   "fl1 <schema id, hex> <expiresAt, epoch ms, or "-" for never>\n<JSON of the encoded ApiResponse>"
 *
 * The expiry is kept in the value as well as set as the key's Redis expiry: Redis deletes the key in
 * real time, and the stored time is what `get` compares with Effect's Clock (so TestClock drives it,
 * and a key read a moment before Redis expires it is already a miss).
 *
 * Decoding: as in the disk cache, a body written by this very schema (same schema id, and a schema
 * whose encoding is the identity) is used as parsed, without a full `Schema.decode` (~22 µs,
 * measured there); any other body goes through the decoder and is a miss if it fails.
 */
import { ApiRequest } from "@fastllm/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import { createHash } from "node:crypto"

const ast = ApiRequest.ApiResponse.ast
const schemaId = createHash("sha256").update(JSON.stringify(ast)).digest("hex").slice(0, 8)
const encodingIsIdentity = JSON.stringify(SchemaAST.encodedAST(ast)) === JSON.stringify(SchemaAST.typeAST(ast))
const encodeResponse = Schema.encodeEither(ApiRequest.ApiResponse)
const decodeResponse = Schema.decodeUnknownEither(ApiRequest.ApiResponse)
const magic = "fl1 "

/** @internal */
export const encode = (value: ApiRequest.ApiResponse, expiresAt: number): Either.Either<string, string> =>
  Either.match(encodeResponse(value), {
    onLeft: (error) => Either.left(`the value does not encode as an ApiResponse: ${error.message}`),
    onRight: (encoded) =>
      Either.right(
        `${magic}${schemaId} ${Number.isFinite(expiresAt) ? expiresAt : "-"}\n${JSON.stringify(encoded)}`
      )
  })

/** @internal */
export type Read =
  | { readonly _tag: "Hit"; readonly value: ApiRequest.ApiResponse }
  | { readonly _tag: "Miss" }

const miss: Read = { _tag: "Miss" }

const isTagged = (json: unknown): boolean =>
  typeof json === "object" && json !== null && "_tag" in json && (json._tag === "Chat" || json._tag === "Embedding") &&
  "response" in json && typeof json.response === "object" && json.response !== null

/** Reads a stored entry at `now`: a miss when expired, of another format, or unreadable. @internal */
export const read = (text: string, now: number): Read => {
  const newline = text.indexOf("\n")
  if (!text.startsWith(magic) || newline < 0) return miss
  const [id, expiry] = text.slice(magic.length, newline).split(" ")
  if (expiry === undefined || (expiry !== "-" && Number(expiry) <= now)) return miss
  let json: unknown
  try {
    json = JSON.parse(text.slice(newline + 1))
  } catch {
    return miss
  }
  if (encodingIsIdentity && id === schemaId && isTagged(json)) {
    return { _tag: "Hit", value: json as ApiRequest.ApiResponse }
  }
  const decoded = decodeResponse(json)
  return Either.isRight(decoded) ? { _tag: "Hit", value: decoded.right } : miss
}
