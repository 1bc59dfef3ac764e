/**
 * The CLI's own work per line, apart from the engine: the input line's decode (bytes to text,
 * `BatchLine.parse`) and the output line's encode (`BatchLine.toOutput`, `JSON.stringify`, UTF-8),
 * on 100,000-line data like bench/startup.ts's, in this process, CPU µs per line (medians of
 * `--rounds`, after one unmeasured warm-up round).
 *
 *   npx tsx bench/lib/cliLine.ts [--lines 100000] [--rounds 5]
 *
 * @since 0.2.0
 */
import { ChatResponse, type RequestManager, TokenStats } from "@fastllm/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as BatchFile from "../../packages/cli/src/BatchFile.js"
import * as BatchLine from "../../packages/cli/src/BatchLine.js"
import { fmt, median, numberFlag, table } from "./report.js"

const argv = process.argv.slice(2)
const lines = numberFlag(argv, "lines", 100_000)
const rounds = numberFlag(argv, "rounds", 5)

const inputText = Array.from({ length: lines }, (_, i) =>
  `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini",` +
  `"messages":[{"role":"user","content":"startup benchmark question ${i}"}],"max_tokens":16}}\n`).join("")
const inputBytes = new TextEncoder().encode(inputText)
const texts = inputText.trimEnd().split("\n")
const response = (i: number) => ({
  id: `chatcmpl-${i}`,
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: `answer ${i} from the testing server`, refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
  system_fingerprint: "fp_test"
})
const parsedLines = texts.map((text, i) => BatchLine.parse(text, i + 1))
const results = texts.map((_, i): RequestManager.ItemResult => ({
  _tag: "Success",
  kind: "chat",
  index: i,
  key: undefined,
  attempts: 1,
  response: Either.getOrThrow(ChatResponse.decodeUnknownEither(response(i))),
  fromCache: false,
  deduplicated: false,
  tokens: TokenStats.empty
}))

const cpu = (body: () => void): number => {
  const start = process.cpuUsage()
  body()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / lines
}

const steps: ReadonlyArray<readonly [string, () => void]> = [
  ["bytes → line texts (BatchFile.utf8Lines, 1 MB chunks)", () => {
    const chunks = Array.from({ length: Math.ceil(inputBytes.length / 2 ** 20) }, (_, k) => inputBytes.subarray(k * 2 ** 20, (k + 1) * 2 ** 20))
    Effect.runSync(Stream.runDrain(BatchFile.utf8Lines(Stream.fromIterable(chunks))))
  }],
  ["BatchLine.parse (JSON.parse + envelope check)", () => {
    for (let i = 0; i < texts.length; i++) BatchLine.parse(texts[i]!, i + 1)
  }],
  ["JSON.parse alone", () => {
    for (let i = 0; i < texts.length; i++) JSON.parse(texts[i]!)
  }],
  ["BatchLine.toOutput + JSON.stringify", () => {
    for (let i = 0; i < texts.length; i++) JSON.stringify(BatchLine.toOutput(parsedLines[i]!, results[i]!))
  }],
  ["output text → UTF-8, 512 lines a write", () => {
    const encoder = new TextEncoder()
    for (let i = 0; i < texts.length; i += 512) encoder.encode(Chunk.join(Chunk.fromIterable(texts.slice(i, i + 512)), "\n"))
  }]
]

const samples = new Map(steps.map(([name]) => [name, [] as Array<number>]))
for (const [, body] of steps) body() // warm-up (JIT), not measured
for (let round = 0; round < rounds; round++) {
  for (const [name, body] of steps) samples.get(name)!.push(cpu(body))
}
console.log(`CLI per-line work, ${fmt(lines)} lines, ${rounds} rounds (medians)\n`)
console.log(table(["step", "CPU µs/line"], steps.map(([name]) => [name, fmt(median(samples.get(name)!), 2)])))
