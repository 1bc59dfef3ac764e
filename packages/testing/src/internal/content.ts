/**
 * The content of a chat reply. By default an echo of the last user message; a generator
 * registered in {@link contentGenerators} may answer instead (the first that returns a string
 * wins), e.g. schema-conforming JSON for `response_format: json_schema` requests.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import type { Options } from "../ServerOptions.js"
import type { ChatPlan } from "./validate.js"

/**
 * Content for choice `index` of a request, or `undefined` to leave it to the next generator.
 * `digest` is the hex sha256 of model + last user message (stable across runs).
 *
 * @internal
 */
export type ContentGenerator = (
  plan: ChatPlan,
  index: number,
  digest: string,
  options: Options
) => string | undefined

/**
 * Generators tried in order before the echo. To add one: write it in its own file and list it here.
 *
 * @internal
 */
export const contentGenerators: ReadonlyArray<ContentGenerator> = []

/** The echo: `Echo: <last user message, ≤100 chars> (<8-hex digest>[, choice i])`. @internal */
export const echoContent = (plan: ChatPlan, index: number, digest: string): string => {
  const snippet = plan.lastUserText.length > 100 ? `${plan.lastUserText.slice(0, 100)}...` : plan.lastUserText
  return index === 0
    ? `Echo: ${snippet} (${digest.slice(0, 8)})`
    : `Echo: ${snippet} (${digest.slice(0, 8)}, choice ${index})`
}

/** The digest the echo and the completion id are derived from. @internal */
export const chatDigest = (plan: ChatPlan): string =>
  createHash("sha256").update(`${plan.model}\u0000${plan.lastUserText}`).digest("hex")

/** The content of choice `index`. @internal */
export const chatContent = (plan: ChatPlan, index: number, digest: string, options: Options): string => {
  for (const generate of contentGenerators) {
    const content = generate(plan, index, digest, options)
    if (content !== undefined) return content
  }
  return echoContent(plan, index, digest)
}
