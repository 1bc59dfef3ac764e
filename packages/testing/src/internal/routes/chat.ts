/**
 * `POST /v1/chat/completions`: validated like OpenAI, answered with deterministic content
 * (see content.ts) behind the rate buckets and faults.
 *
 * @internal
 */
import { chatContent, chatDigest } from "../content.js"
import { isRejection } from "../reply.js"
import type { RouteContext, RouteGroup } from "../route.js"
import { structuredChoice } from "../structuredOutput.js"
import { type ChatPlan, estimateTokens, parseBody, validateChat } from "../validate.js"

/** The 200 answer to a valid chat request (also the Batch API's answer to a line). @internal */
export const completion = (context: RouteContext, plan: ChatPlan) => {
  const digest = chatDigest(plan)
  const options = context.options()
  const choices = []
  let completionTokens = 0
  for (let index = 0; index < plan.n; index++) {
    const structured = structuredChoice(plan.body, plan.model, index, options.faults)
    if (structured !== undefined) {
      context.structuredAnswer(structured.kind === "valid" || structured.kind === "refusal" ? structured.kind : "invalid")
      completionTokens += estimateTokens(structured.text)
      choices.push(structured.choice)
      continue
    }
    let content = chatContent(plan, index, digest, options)
    let finishReason = "stop"
    if (plan.maxTokens !== undefined && estimateTokens(content) > plan.maxTokens) {
      content = content.slice(0, plan.maxTokens * 4)
      finishReason = "length"
    }
    completionTokens += estimateTokens(content)
    choices.push({
      index,
      message: { role: "assistant", content, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: finishReason
    })
  }
  return context.json(200, {
    id: `chatcmpl-${digest.slice(8, 32)}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: plan.model,
    choices,
    usage: {
      prompt_tokens: plan.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: plan.promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0
      }
    },
    service_tier: "default",
    system_fingerprint: "fp_fastllm_test"
  }, {}, context.latency(completionTokens))
}

/** @internal */
export const chatRoutes: RouteGroup = (context) => [{
  method: "POST",
  path: "/v1/chat/completions",
  handle: (request) => {
    const body = parseBody(request.body)
    if (isRejection(body)) return body
    const plan = validateChat(body)
    if (isRejection(plan)) return plan
    const unknownModel = context.checkModel(plan.model)
    if (unknownModel !== undefined) return unknownModel
    const outputTokens = plan.maxTokens ?? context.options().defaultOutputTokens ?? 16
    return context.guarded(plan.model, plan.promptTokens + outputTokens, () => completion(context, plan))
  }
}]
