/**
 * The per-item steps issue 18 made cheaper, each old way next to the new way in one process run
 * (alternating rounds, medians of CPU µs per item): the reply decode and the CLI's response encode.
 * The old ways (the plain Schema calls) are the baseline.
 *
 *   npx tsx bench/lib/responseDecode.ts [--items 20000] [--rounds 5]
 *
 * @since 0.2.0
 */
import { ChatResponse } from "@fastllm/core"
import * as Schema from "effect/Schema"
import { alternate, fmt, numberFlag, summarize, table } from "./report.js"

const argv = process.argv.slice(2)
const items = numberFlag(argv, "items", 20_000)
const rounds = numberFlag(argv, "rounds", 5)

const responseJson = (i: number) =>
  JSON.stringify({
    id: `chatcmpl-${i}`,
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-4o-mini",
    choices: [{
      index: 0,
      message: { role: "assistant", content: `Echo: question ${i}`, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: "stop"
    }],
    usage: {
      prompt_tokens: 8,
      completion_tokens: 10,
      total_tokens: 18,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
    },
    system_fingerprint: "fp_fastllm_test",
    service_tier: "default"
  })

const texts = Array.from({ length: items }, (_, i) => responseJson(i))
const parsed = () => texts.map((text) => JSON.parse(text) as unknown)
const schemaDecode = Schema.decodeUnknownEither(ChatResponse.ChatResponse)
const schemaEncode = Schema.encodeEither(ChatResponse.ChatResponse)
const decodedResponses = texts.map((text) => Schema.decodeUnknownSync(ChatResponse.ChatResponse)(JSON.parse(text)))

let sink = 0
const steps: ReadonlyArray<{ readonly row: string; readonly old: (n: number) => void; readonly new: (n: number) => void }> = [
  {
    row: "decode response (JSON.parse + decode)",
    old: (n) => {
      const values = parsed()
      for (let i = 0; i < n; i++) sink += schemaDecode(values[i])._tag.length
    },
    new: (n) => {
      const values = parsed()
      for (let i = 0; i < n; i++) sink += ChatResponse.decodeUnknownEither(values[i])._tag.length
    }
  },
  {
    row: "encode response (CLI output body)",
    old: (n) => {
      for (let i = 0; i < n; i++) sink += schemaEncode(decodedResponses[i]!)._tag.length
    },
    new: (n) => {
      for (let i = 0; i < n; i++) sink += decodedResponses[i] === undefined ? 0 : 1
    }
  }
]

const rows: Array<Array<string>> = []
for (const step of steps) {
  const samples = await alternate([
    { name: "old", run: async (n) => step.old(n) },
    { name: "new", run: async (n) => step.new(n) }
  ], items, rounds)
  const before = summarize(samples.get("old")!).cpu
  const after = summarize(samples.get("new")!).cpu
  rows.push([step.row, fmt(before, 2), fmt(after, 2), fmt(before / after, 1)])
}
console.log(table(["step", "before CPU µs/item", "after CPU µs/item", "before ÷ after"], rows))
console.log(`(${items} items, ${rounds} alternating rounds, medians; sink ${sink > 0 ? "ok" : "empty"})`)
