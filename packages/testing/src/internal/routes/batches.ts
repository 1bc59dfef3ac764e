/**
 * OpenAI's Files and Batch API (`/v1/files`, `/v1/batches`): see ../batches.ts. Batch lines are
 * answered like the online endpoints (same content, same validation) without the rate buckets,
 * faults or latency, which the Batch API has its own of.
 *
 * @internal
 */
import { BatchStore } from "../batches.js"
import { type Outcome, type Rejection, isRejection, notFound } from "../reply.js"
import type { RouteContext, RouteGroup, ServerRequest } from "../route.js"
import { validateChat, validateEmbeddings } from "../validate.js"
import { completion } from "./chat.js"
import { embeddings } from "./embeddings.js"

/** One batch line answered as the online endpoint would: status and JSON body. */
const answerWith = (context: RouteContext) => {
  let captured: { readonly status: number; readonly body: unknown } = { status: 500, body: null }
  const capture: RouteContext = {
    ...context,
    json: (status, value) => {
      captured = { status, body: value }
      return { _tag: "Hang" }
    }
  }
  return (url: string, body: Record<string, unknown>): { readonly status: number; readonly body: unknown } => {
    const refused = (rejection: Rejection) => ({ status: rejection.status, body: { error: rejection.error } })
    if (url === "/v1/embeddings") {
      const plan = validateEmbeddings(body)
      if (isRejection(plan)) return refused(plan)
      const unknownModel = context.checkModel(plan.model)
      if (unknownModel !== undefined) return refused(unknownModel)
      embeddings(capture, plan)
      return captured
    }
    const plan = validateChat(body)
    if (isRejection(plan)) return refused(plan)
    const unknownModel = context.checkModel(plan.model)
    if (unknownModel !== undefined) return refused(unknownModel)
    completion(capture, plan)
    return captured
  }
}

/** @internal */
export const batchRoutes: RouteGroup = (context) => {
  const store = new BatchStore(() => context.options().batch, answerWith(context), context.now)
  const handle = (request: ServerRequest): Outcome | Rejection => {
    const reply = store.handle(request.method, request.path, request.query.toString(), request.body)
    if (reply === undefined) return notFound(`Invalid URL (${request.method} ${request.path})`)
    return { _tag: "Respond", status: reply.status, headers: { "content-type": reply.contentType }, body: reply.body, delayMs: 0 }
  }
  const path = /^\/v1\/(?:files|batches)(?:\/.*)?$/
  return [
    { method: "GET", path, handle },
    { method: "POST", path, handle }
  ]
}

