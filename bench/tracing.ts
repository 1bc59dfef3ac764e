/**
 * What tracing costs per item: the RequestManager over an in-process provider (no HTTP, so the
 * engine's own CPU is what is measured), 20,000 unique chat items a round, three setups in
 * alternating rounds: no tracer installed (Effect's built-in one: the default), `tracing: false`,
 * and an OpenTelemetry tracer (@effect/opentelemetry NodeSdk, spans batched to an exporter that
 * drops them). Medians of CPU µs per item.
 *
 *   npx tsx bench/tracing.ts [--items 20000] [--rounds 5]
 *
 * @since 0.2.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Cache, Provider, RequestManager } from "@fastllm/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const flag = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name)
  return at > 0 ? Number(process.argv[at + 1]) : fallback
}
const items = flag("--items", 20_000)
const rounds = flag("--rounds", 5)

const provider = Provider.layerFromFunctions({
  name: "bench",
  chat: (request) =>
    Effect.succeed({
      id: "x",
      model: request.model,
      choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 }
    })
})

const dropAll: SpanExporter = {
  export: (_spans: Array<ReadableSpan>, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve()
}
const otel = NodeSdk.layer(() => ({ resource: { serviceName: "bench" }, spanProcessor: new BatchSpanProcessor(dropAll) }))

let round = 0
const once = (options: RequestManager.Options, tracer: Layer.Layer<never> | undefined) => {
  const prefix = `r${round++}-`
  const inputs = Array.from({ length: items }, (_, i) => ({
    model: "gpt-4o-mini",
    messages: [{ role: "user" as const, content: `${prefix}${i}` }],
    max_tokens: 4
  }))
  const program = RequestManager.run(inputs).pipe(
    Effect.provide(RequestManager.layer({ concurrency: 64, timeout: Duration.infinity, ...options }).pipe(
      Layer.provide(provider),
      Layer.provide(Cache.none)
    ))
  )
  const started = process.cpuUsage()
  return Effect.runPromise(tracer === undefined ? program : program.pipe(Effect.provide(tracer))).then(() => {
    const used = process.cpuUsage(started)
    return (used.user + used.system) / items
  })
}

const setups = {
  "no tracer (default)": () => once({}, undefined),
  "tracing: false": () => once({ tracing: false }, undefined),
  "OpenTelemetry tracer": () => once({}, otel)
} as const

const median = (values: Array<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const main = async () => {
  const results: Record<string, Array<number>> = {}
  await once({}, undefined) // warm up
  const entries = Object.entries(setups)
  for (let r = 0; r < rounds; r++) {
    // rotate the order each round, so that no setup always follows the tracer's garbage
    for (let i = 0; i < entries.length; i++) {
      const [name, run] = entries[(i + r) % entries.length]!
      ;(results[name] ??= []).push(await run())
    }
  }
  const base = median(results["tracing: false"]!)
  console.log(`tracing cost, ${items} items x ${rounds} rounds, CPU µs per item (median), ratio to tracing: false`)
  for (const [name, values] of Object.entries(results)) {
    console.log(`  ${name.padEnd(22)} ${median(values).toFixed(1).padStart(7)} µs  ${(median(values) / base).toFixed(2)}x`)
  }
}

main()
