/**
 * CPU per request with many calls in flight: the raw undici loop and the RequestManager (adaptive
 * concurrency on and off) against the testing server in its own process, alternating, 2 rounds.
 * What orderedWindow.ts's hand-offs were measured with.
 *
 *   npx tsx bench/lib/manyInFlight.ts [concurrency 1000] [latency ms 20] [requests 10000]
 *
 * @since 0.2.0
 */
import { bodies, fastLlm, rawUndici } from "./clients.js"
import { startServer } from "./server.js"

const concurrency = Number(process.argv[2] ?? 1000)
const latency = process.argv[3] ?? "20"
const requests = Number(process.argv[4] ?? 10000)

const main = async () => {
  const server = await startServer(["--latency", latency])
  const work = bodies(requests, "in-flight")
  const variants = {
    "raw undici": await rawUndici(server.url, concurrency),
    "FastLLM": await fastLlm(server.url, concurrency),
    "FastLLM, adaptiveConcurrency false": await fastLlm(server.url, concurrency, { adaptiveConcurrency: false })
  }
  for (let round = 0; round < 2; round++) {
    for (const [name, client] of Object.entries(variants)) {
      const cpu = process.cpuUsage()
      const started = performance.now()
      await client.run(work, requests)
      const wall = performance.now() - started
      const used = process.cpuUsage(cpu)
      console.log(
        `round ${round + 1}, ${name}: ${Math.round(requests / (wall / 1000))} req/s, ` +
          `${Math.round((used.user + used.system) / requests)} µs CPU/request`
      )
    }
  }
  for (const client of Object.values(variants)) await client.close()
  server.child.kill()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
