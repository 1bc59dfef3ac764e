/**
 * Embedding requests and responses (`POST /embeddings`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { open, UnknownRecord } from "./internal/schema.js"

/**
 * An embeddings request: `model`, `input` (a string, strings, or token arrays) and the optional
 * `dimensions`, `encoding_format` and `user`. Unknown fields are kept and sent on.
 *
 * @since 0.1.0
 * @category models
 */
export const EmbeddingRequest = Schema.Struct(
  {
    model: Schema.NonEmptyString.annotations({ message: () => "model must be a non-empty string" }),
    input: Schema.Union(
      Schema.String,
      Schema.Array(Schema.String),
      Schema.Array(Schema.Int),
      Schema.Array(Schema.Array(Schema.Int))
    ).annotations({ message: () => "input must be a string, an array of strings, or token arrays" }),
    dimensions: Schema.optional(Schema.Int.pipe(Schema.positive())),
    encoding_format: Schema.optional(Schema.String),
    user: Schema.optional(Schema.String)
  },
  UnknownRecord
).annotations({ identifier: "EmbeddingRequest" })

/**
 * @since 0.1.0
 * @category models
 */
export interface EmbeddingRequest extends Schema.Schema.Type<typeof EmbeddingRequest> {}

/**
 * The JSON form of an {@link EmbeddingRequest}.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmbeddingRequestInput extends Schema.Schema.Encoded<typeof EmbeddingRequest> {}

/**
 * One embedding vector (`embedding` is a base64 string when `encoding_format` is `base64`).
 *
 * @since 0.1.0
 * @category models
 */
export const Embedding = open({
  object: Schema.optional(Schema.String),
  index: Schema.Number,
  embedding: Schema.Union(Schema.Array(Schema.Number), Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Embedding extends Schema.Schema.Type<typeof Embedding> {}

/**
 * Usage of an embeddings call.
 *
 * @since 0.1.0
 * @category models
 */
export const EmbeddingUsage = open({
  prompt_tokens: Schema.Number,
  total_tokens: Schema.Number
})

/**
 * An embeddings response.
 *
 * @since 0.1.0
 * @category models
 */
export const EmbeddingResponse = open({
  object: Schema.optional(Schema.String),
  data: Schema.Array(Embedding),
  model: Schema.String,
  usage: Schema.optional(Schema.NullOr(EmbeddingUsage))
}).annotations({ identifier: "EmbeddingResponse" })

/**
 * @since 0.1.0
 * @category models
 */
export interface EmbeddingResponse extends Schema.Schema.Type<typeof EmbeddingResponse> {}

/**
 * The vectors of a response in input order. Base64 vectors (`encoding_format: "base64"`) are
 * decoded from little-endian float32.
 *
 * @since 0.1.0
 * @category getters
 */
export const vectors = (response: EmbeddingResponse): ReadonlyArray<ReadonlyArray<number>> =>
  [...response.data]
    .sort((a, b) => a.index - b.index)
    .map((item) => typeof item.embedding === "string" ? decodeBase64Vector(item.embedding) : item.embedding)

const decodeBase64Vector = (base64: string): ReadonlyArray<number> => {
  const bytes = Buffer.from(base64, "base64")
  const out = new Array<number>(Math.floor(bytes.length / 4))
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4)
  return out
}
