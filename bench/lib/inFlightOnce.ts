/**
 * One client at a time (for `node --cpu-prof`): FastLLM (or the raw undici loop) at a given
 * concurrency and server latency, a warm-up run and a measured one.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/lib/inFlightOnce.ts \
 *     [fastllm|raw] [concurrency 1000] [latency ms 20] [requests 10000] [window]
 *
 * @since 0.2.0
 */
import { bodies, fastLlm, rawUndici } from "./clients.js"
import { startServer } from "./server.js"

const which = process.argv[2] ?? "fastllm"
const concurrency = Number(process.argv[3] ?? 1000)
const latency = process.argv[4] ?? "20"
const requests = Number(process.argv[5] ?? 10000)
const window = process.argv[6] === undefined ? undefined : Number(process.argv[6])

const main = async () => {
  const server = await startServer(["--latency", latency])
  const work = bodies(requests, `once-${Date.now()}`)
  const client = which === "raw"
    ? rawUndici(server.url, concurrency)
    : await fastLlm(server.url, concurrency, window === undefined ? {} : { window })
  await client.run(work, Math.min(requests, 2000))
  const cpu = process.cpuUsage()
  const started = performance.now()
  await client.run(work, requests)
  const wall = performance.now() - started
  const used = process.cpuUsage(cpu)
  console.log(
    `${which} c=${concurrency} latency=${latency}: ${Math.round(requests / (wall / 1000))} req/s, ` +
      `${Math.round((used.user + used.system) / requests)} µs CPU/request`
  )
  await client.close()
  await server.stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
