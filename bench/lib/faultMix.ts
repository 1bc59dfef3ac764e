/**
 * The reliability suite's fault mix at bench scale: N unique chat requests through FastLLM against
 * the testing server (in this process, for its per-body statistics) with 10% 429 (retry-after
 * 50–500 ms), 5% 500/502/503, 2% resets, 1% hangs past the timeout and 1% malformed bodies, next to
 * the same run without faults. Correctness (one result per input, all succeeded, per-body count
 * within the retry budget) and what the faults cost in time.
 *
 *   npx tsx bench/lib/faultMix.ts [--requests 20000]
 *
 * @since 0.1.0
 */
import { Cache, ChatResponse, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { pathToFileURL } from "node:url"
import { apiKey, bodies } from "./clients.js"
import { fmt, numberFlag, type Section, table } from "./report.js"

const maxRetries = 8
const concurrency = 200
// 20 ms of latency, so that the server's "max concurrent" shows how many requests FastLLM keeps
// in flight (at 0 ms an in-process server answers each request before the next arrives).
const latency = { minMs: 20 }
// The server shares this process's CPU: a tight timeout would fire on queueing alone.
const timeout = "3 seconds"

const mix: TestServer.Faults = {
  seed: 11,
  rateLimit: 0.10,
  retryAfterMs: [50, 500],
  serverError: 0.05,
  reset: 0.02,
  hang: 0.01,
  malformed: 0.01
}

interface Row {
  readonly name: string
  readonly wallMs: number
  readonly ok: number
  readonly exactlyOne: boolean
  readonly maxPerBody: number
  readonly serverRequests: number
  readonly maxConcurrent: number
  readonly retries: number
  readonly rateLimitWaitMillis: number
}

const once = async (name: string, requests: number, faults: TestServer.Faults | undefined): Promise<Row> => {
  const server = await TestServer.start(faults === undefined ? { latency } : { latency, faults })
  const scope = Effect.runSync(Scope.make())
  try {
    const manager = await Effect.runPromise(
      Layer.build(Layer.merge(OpenAiProvider.layer({ apiKey: Redacted.make(apiKey), baseUrl: server.url }), Cache.none)).pipe(
        Effect.flatMap((context) =>
          Effect.provide(
            RequestManager.make({
              concurrency,
              timeout,
              maxRetries,
              retrySchedule: Schedule.exponential("20 millis", 2).pipe(
                Schedule.jittered,
                Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(200)))
              )
            }),
            context
          )
        ),
        Scope.extend(scope)
      )
    )
    const work = bodies(requests, `fault-mix-${name}`)
    const start = performance.now()
    const { results, stats } = await Effect.runPromise(manager.run(work))
    const wallMs = performance.now() - start
    const seen = server.stats()
    const exactlyOne = results.length === requests && results.every((result, i) => {
      const response = RequestManager.chatResponse(result)
      return result.index === i && response !== undefined &&
        (ChatResponse.text(response) ?? "").includes(`${work[i]!.messages[0].content} (`)
    })
    return {
      name,
      wallMs,
      ok: stats.succeeded,
      exactlyOne,
      maxPerBody: Math.max(...seen.byBodyHash.values()),
      serverRequests: seen.requests,
      maxConcurrent: seen.maxConcurrent,
      retries: stats.retries,
      rateLimitWaitMillis: stats.rateLimitWaitMillis
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.close()
  }
}

/**
 * Runs the clean and the faulty batch.
 *
 * @since 0.1.0
 * @category running
 */
export const run = async (options: { readonly requests: number; readonly log?: (line: string) => void }): Promise<{ readonly section: Section }> => {
  const log = options.log ?? (() => {})
  const rows: Array<Row> = []
  for (const [name, faults] of [["no faults", undefined], ["fault mix", mix], ["fault mix without 429s", { ...mix, rateLimit: 0 }]] as const) {
    const row = await once(name, options.requests, faults)
    log(`  fault mix ${name}: ${fmt(row.wallMs / 1000, 1)} s, ${fmt(row.ok)} ok, max ${row.maxPerBody} per body`)
    rows.push(row)
  }
  const section: Section = {
    title: "7. Fault mix at scale",
    markdown: [
      `${fmt(options.requests)} unique chat requests, concurrency ${concurrency}, server latency 20 ms, timeout ${timeout}, ` +
      `maxRetries ${maxRetries}, ` +
      "backoff 20 ms doubling (jittered, cap 200 ms) and never sooner than Retry-After; testing server in this process " +
      "(for its per-body counts). Fault mix: 10% 429 (retry-after 50–500 ms), 5% 500/502/503, 2% resets, 1% hangs, " +
      "1% malformed bodies. \"Paused by 429s\": the batch's `rateLimitWaitMillis`, the time the shared 429 gate held " +
      "every request back. The bounded version runs in `npm test` (reliability/faultMix.test.ts, 5,000 requests).",
      "",
      table(
        ["run", "succeeded", "exactly one correct result each", "max sends of one body", "server requests", "retries", "server max concurrent", "paused by 429s", "wall", "req/s"],
        rows.map((row) => [
          row.name,
          `${fmt(row.ok)} / ${fmt(options.requests)}`,
          row.exactlyOne ? "yes" : "NO",
          `${row.maxPerBody} (budget ${1 + maxRetries})`,
          fmt(row.serverRequests),
          fmt(row.retries),
          String(row.maxConcurrent),
          `${fmt(row.rateLimitWaitMillis / 1000, 1)} s`,
          `${fmt(row.wallMs / 1000, 1)} s`,
          fmt(options.requests / (row.wallMs / 1000))
        ])
      )
    ].join("\n")
  }
  return { section }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run({ requests: numberFlag(process.argv.slice(2), "requests", 20_000), log: console.log })
    .then(({ section }) => console.log(`\n## ${section.title}\n\n${section.markdown}`))
    .catch((error) => {
      console.error(error)
      process.exitCode = 1
    })
}
