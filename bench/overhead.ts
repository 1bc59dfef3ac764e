/**
 * 1. Overhead and 5. CPU per request: unique chat requests against the testing server at 0 ms
 * latency (in a child process), FastLLM next to a raw undici loop (the ceiling) and the official
 * `openai` SDK at the same concurrency, in alternating rounds; medians and ratios.
 *
 *   npx tsx bench/overhead.ts [--requests 20000] [--rounds 3] [--only fastllm]
 *
 * `--only NAME` runs one client for a while with nothing else (for `node --cpu-prof`).
 *
 * @since 0.1.0
 */
import { pathToFileURL } from "node:url"
import { type Body, bodies, type Client, fastLlm, openAiSdk, rawUndici } from "./lib/clients.js"
import { alternate, fmt, numberFlag, type Section, summarize, table, verdict } from "./lib/report.js"
import { startServer } from "./lib/server.js"

/**
 * Options of the overhead section.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly requests: number
  readonly concurrencies: ReadonlyArray<number>
  readonly rounds: number
  readonly log?: (line: string) => void
}

/**
 * One concurrency's medians.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly concurrency: number
  readonly raw: { readonly rate: number; readonly cpu: number }
  readonly fastllm: { readonly rate: number; readonly cpu: number }
  readonly sdk: { readonly rate: number; readonly cpu: number }
}

const names = { raw: "raw undici", fastllm: "FastLLM", sdk: "openai SDK" } as const

/**
 * Runs the comparison at each concurrency.
 *
 * @since 0.1.0
 * @category running
 */
export const run = async (options: Options): Promise<{ readonly rows: ReadonlyArray<Row>; readonly sections: ReadonlyArray<Section> }> => {
  const log = options.log ?? (() => {})
  const server = await startServer()
  const work = bodies(options.requests, "overhead")
  const rows: Array<Row> = []
  try {
    for (const concurrency of options.concurrencies) {
      const clients: Record<keyof typeof names, Client> = {
        raw: rawUndici(server.url, concurrency),
        fastllm: await fastLlm(server.url, concurrency),
        sdk: openAiSdk(server.url, concurrency)
      }
      const samples = await alternate(
        (Object.keys(names) as Array<keyof typeof names>).map((key) => ({
          name: key,
          run: (count: number) => clients[key].run(work, count)
        })),
        options.requests,
        options.rounds,
        {
          onSample: (name, sample) =>
            log(`  overhead c=${concurrency} ${name}: ${fmt(sample.requests / (sample.wallMs / 1000))} req/s, ` +
              `${fmt(sample.cpuMicros / sample.requests, 1)} µs CPU/req`)
        }
      )
      for (const client of Object.values(clients)) await client.close()
      rows.push({
        concurrency,
        raw: summarize(samples.get("raw")!),
        fastllm: summarize(samples.get("fastllm")!),
        sdk: summarize(samples.get("sdk")!)
      })
    }
  } finally {
    await server.stop()
  }
  const worst = {
    raw: Math.min(...rows.map((row) => row.fastllm.rate / row.raw.rate)),
    sdk: Math.min(...rows.map((row) => row.fastllm.rate / row.sdk.rate))
  }
  const overhead: Section = {
    title: "1. Overhead (0 ms latency, unique requests)",
    markdown: [
      `${fmt(options.requests)} unique chat requests per run, testing server in a child process at 0 ms latency; ` +
      `raw undici, FastLLM and the openai SDK alternate for ${options.rounds} rounds (after one warm-up each); ` +
      `medians. FastLLM: \`RequestManager.make({ concurrency })\` + \`OpenAiProvider.layer\` + \`Cache.none\`, ` +
      `\`manager.run(bodies)\`.`,
      "",
      table(
        ["concurrency", "raw undici req/s", "FastLLM req/s", "openai SDK req/s", "FastLLM ÷ raw", "FastLLM ÷ SDK"],
        rows.map((row) => [
          String(row.concurrency),
          fmt(row.raw.rate),
          fmt(row.fastllm.rate),
          fmt(row.sdk.rate),
          fmt(row.fastllm.rate / row.raw.rate, 2),
          fmt(row.fastllm.rate / row.sdk.rate, 2)
        ])
      ),
      "",
      `Target ≥ 0.9× raw: ${verdict(worst.raw >= 0.9, `worst ${fmt(worst.raw, 2)}×`)}. ` +
      `Target ≥ 1.2× the SDK: ${verdict(worst.sdk >= 1.2, `worst ${fmt(worst.sdk, 2)}×`)}.`
    ].join("\n")
  }
  const cpu: Section = {
    title: "5. CPU per request (0 ms latency)",
    markdown: [
      "User + system CPU of the client process ÷ requests, from the same runs as section 1 (the server's CPU is in " +
      "its own process and not counted).",
      "",
      table(
        ["concurrency", "raw undici µs/req", "FastLLM µs/req", "openai SDK µs/req", "FastLLM − raw", "FastLLM ÷ SDK"],
        rows.map((row) => [
          String(row.concurrency),
          fmt(row.raw.cpu, 1),
          fmt(row.fastllm.cpu, 1),
          fmt(row.sdk.cpu, 1),
          fmt(row.fastllm.cpu - row.raw.cpu, 1),
          fmt(row.fastllm.cpu / row.sdk.cpu, 2)
        ])
      )
    ].join("\n")
  }
  return { rows, sections: [overhead, cpu] }
}

/** `--only NAME`: one client alone, for profiling. */
const only = async (name: string, requests: number, concurrency: number, rounds: number) => {
  const server = await startServer()
  const work: ReadonlyArray<Body> = bodies(requests, "profile")
  const client = name === "raw" ? rawUndici(server.url, concurrency) : name === "sdk"
    ? openAiSdk(server.url, concurrency)
    : await fastLlm(server.url, concurrency)
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    await client.run(work, requests)
    console.log(`${name}: ${fmt(requests / ((performance.now() - start) / 1000))} req/s`)
  }
  await client.close()
  await server.stop()
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2)
  const requests = numberFlag(argv, "requests", 20_000)
  const rounds = numberFlag(argv, "rounds", 3)
  const onlyIndex = argv.indexOf("--only")
  const main = onlyIndex !== -1
    ? only(argv[onlyIndex + 1] ?? "fastllm", requests, numberFlag(argv, "concurrency", 64), rounds)
    : run({ requests, rounds, concurrencies: [64, 256], log: console.log }).then(({ sections }) => {
      for (const section of sections) console.log(`\n## ${section.title}\n\n${section.markdown}`)
    })
  main.catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
