/**
 * `POST /v1/embeddings`: deterministic unit vectors seeded by each input's sha256, behind the
 * rate buckets and faults.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { mulberry32 } from "../prng.js"
import { isRejection } from "../reply.js"
import type { RouteContext, RouteGroup } from "../route.js"
import { type EmbeddingPlan, parseBody, validateEmbeddings } from "../validate.js"

/** A deterministic unit vector of `dimensions` float32 values derived from the input's hash. */
const embeddingVector = (input: string | ReadonlyArray<number>, dimensions: number): Float32Array => {
  const digest = createHash("sha256").update(typeof input === "string" ? input : JSON.stringify(input)).digest()
  const random = mulberry32(digest.readUInt32LE(0) ^ digest.readUInt32LE(4))
  const vector = new Float32Array(dimensions)
  let norm = 0
  for (let i = 0; i < dimensions; i++) {
    const value = random() * 2 - 1
    vector[i] = value
    norm += value * value
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 1
  for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! * scale
  return vector
}

/** The 200 answer to a valid embeddings request (also the Batch API's answer to a line). @internal */
export const embeddings = (context: RouteContext, plan: EmbeddingPlan) => {
  const dimensions = plan.dimensions ?? context.options().embeddingDimensions ?? 8
  const data = plan.inputs.map((input, index) => {
    const vector = embeddingVector(input, dimensions)
    return {
      object: "embedding",
      index,
      embedding: plan.base64
        ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
        : Array.from(vector)
    }
  })
  return context.json(200, {
    object: "list",
    data,
    model: plan.model,
    usage: { prompt_tokens: plan.promptTokens, total_tokens: plan.promptTokens }
  }, {}, context.latency(0))
}

/** @internal */
export const embeddingRoutes: RouteGroup = (context) => [{
  method: "POST",
  path: "/v1/embeddings",
  handle: (request) => {
    const body = parseBody(request.body)
    if (isRejection(body)) return body
    const plan = validateEmbeddings(body)
    if (isRejection(plan)) return plan
    const unknownModel = context.checkModel(plan.model)
    if (unknownModel !== undefined) return unknownModel
    return context.guarded(plan.model, plan.promptTokens, () => embeddings(context, plan))
  }
}]
