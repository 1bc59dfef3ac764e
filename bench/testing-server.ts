/**
 * How fast the test server serves on its own: a raw undici Pool loop (concurrency 64) against
 * `POST /v1/chat/completions` at 0 ms latency, on this machine's 2 cores.
 *
 *   npx tsx bench/testing-server.ts [seconds=5]
 *
 * Runs, each server in its own child process (so client and server each get a core, as in the
 * client benchmarks):
 * - `node:http`    : the real TestServer (packages/testing/src/bin.ts), as shipped.
 * - `platform`     : the same request engine behind @effect/platform's HttpServer
 *                    (NodeHttpServer + an HttpApp), to justify serving the hot path with node:http.
 * - `in-process`   : TestServer.start in the client's own process (one core for both).
 * Prints requests/s and the server's CPU time per request (from /proc/<pid>/stat).
 *
 * @since 0.1.0
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Pool } from "undici"
import { Engine } from "../packages/testing/src/internal/engine.js"

const CONCURRENCY = 64

// --- child mode: the engine behind @effect/platform's HttpServer ---------------------------------
if (process.argv[2] === "--serve-platform") {
  const engine = new Engine({})
  const app = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* Effect.orDie(request.arrayBuffer)
    const outcome = engine.handle(request.method, request.url, request.headers, Buffer.from(body))
    if (outcome._tag !== "Respond") return HttpServerResponse.empty({ status: 500 })
    return HttpServerResponse.text(outcome.body, {
      status: outcome.status,
      headers: outcome.headers,
      contentType: "application/json"
    })
  })
  const program = Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    yield* server.serve(app)
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    console.log(JSON.stringify({ url: `http://127.0.0.1:${port}/v1`, port }))
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  )
  NodeRuntime.runMain(program)
} else {
  await main()
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? "5")
  const root = fileURLToPath(new URL("..", import.meta.url))
  const results: Array<{ name: string; rps: number; cpuPerRequestMs: number | undefined }> = []

  const body = JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Say hello to the benchmark" }],
    max_tokens: 32
  })

  const load = async (url: string, pid: number | undefined) => {
    const origin = new URL(url).origin
    const path = `${new URL(url).pathname}/chat/completions`
    const pool = new Pool(origin, { connections: CONCURRENCY, pipelining: 1 })
    let count = 0
    let errors = 0
    let stop = false
    const worker = async () => {
      while (!stop) {
        const response = await pool.request({
          path,
          method: "POST",
          headers: { "content-type": "application/json" },
          body
        })
        await response.body.text()
        if (response.statusCode === 200) count++
        else errors++
      }
    }
    const run = (ms: number) => {
      stop = false
      const workers = Array.from({ length: CONCURRENCY }, worker)
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          stop = true
          void Promise.all(workers).then(() => resolve())
        }, ms)
      )
    }
    await run(1500) // warm-up (JIT, connections)
    count = 0
    errors = 0
    const cpuBefore = pid === undefined ? process.cpuUsage() : undefined
    const ticksBefore = pid === undefined ? 0 : cpuTicks(pid)
    const start = performance.now()
    await run(seconds * 1000)
    const elapsed = (performance.now() - start) / 1000
    let cpuMs: number | undefined
    if (pid !== undefined) cpuMs = ((cpuTicks(pid) - ticksBefore) * 1000) / 100 // CLK_TCK = 100
    else if (cpuBefore !== undefined) {
      const used = process.cpuUsage(cpuBefore)
      cpuMs = (used.user + used.system) / 1000
    }
    await pool.close()
    if (errors > 0) console.error(`  ${errors} non-200 responses`)
    return { rps: count / elapsed, cpuPerRequestMs: cpuMs === undefined ? undefined : cpuMs / count }
  }

  const child = async (name: string, args: ReadonlyArray<string>) => {
    const proc = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] })
    const lines = createInterface({ input: proc.stdout })
    const first = await new Promise<string>((resolve) => lines.once("line", resolve))
    const parsed: unknown = JSON.parse(first)
    const url = typeof parsed === "object" && parsed !== null && "url" in parsed && typeof parsed.url === "string"
      ? parsed.url
      : ""
    const result = await load(url, proc.pid)
    proc.kill("SIGTERM")
    await new Promise((resolve) => proc.once("exit", resolve))
    results.push({ name, ...result })
    console.log(name, format(result))
  }

  await child("node:http (TestServer, child process)", ["packages/testing/src/bin.ts", "--port", "0"])
  await child("@effect/platform HttpServer (same engine, child process)", [
    "bench/testing-server.ts",
    "--serve-platform"
  ])
  const inProcess = await TestServer.start({})
  const result = await load(inProcess.url, undefined)
  await inProcess.close()
  results.push({ name: "node:http in-process (client + server, CPU of both)", ...result })
  console.log(results[results.length - 1]!.name, format(result))
}

function format(result: { rps: number; cpuPerRequestMs: number | undefined }): string {
  if (result.cpuPerRequestMs === undefined) return `${Math.round(result.rps)} req/s`
  const micros = result.cpuPerRequestMs * 1000
  const busy = result.rps * result.cpuPerRequestMs / 10 // percent of one core
  return `${Math.round(result.rps)} req/s, ${micros.toFixed(1)} µs CPU/request (${
    busy.toFixed(0)
  }% of a core; one core would serve ~${Math.round(1e6 / micros)} req/s)`
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14 and 15)
}
