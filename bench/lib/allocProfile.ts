/**
 * Where the bytes allocated per request come from: FastLLM (or the raw undici loop) at a given
 * concurrency and latency under V8's sampling heap profiler, objects collected by the young and
 * old generation collectors included, so the sample is what was allocated, not what stayed. Prints
 * bytes per request by function (self) and by our nearest file on the stack.
 *
 *   node --conditions=@fastllm/source --import tsx bench/lib/allocProfile.ts \
 *     [fastllm|raw] [concurrency 1000] [latency ms 20] [requests 10000]
 *
 * @since 0.3.0
 */
import * as inspector from "node:inspector"
import { bodies, fastLlm, rawUndici } from "./clients.js"
import { startServer } from "./server.js"

const which = process.argv[2] ?? "fastllm"
const concurrency = Number(process.argv[3] ?? 1000)
const latency = process.argv[4] ?? "20"
const requests = Number(process.argv[5] ?? 10000)

interface Node {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<Node>
}

const post = <T>(session: inspector.Session, method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (error, result) => error === null ? resolve(result as T) : reject(error)))

const short = (url: string): string => {
  const at = url.lastIndexOf("/packages/")
  if (at !== -1) return url.slice(at + 10)
  const nm = url.lastIndexOf("/node_modules/")
  return nm !== -1 ? url.slice(nm + 14) : url.replace(/^file:\/\/.*\/bench\//, "bench/")
}

const main = async () => {
  const server = await startServer(["--latency", latency])
  const work = bodies(requests, `alloc-${Date.now()}`)
  const client = which === "raw" ? rawUndici(server.url, concurrency) : await fastLlm(server.url, concurrency)
  await client.run(bodies(2000, `alloc-warm-${Date.now()}`), 2000)
  const session = new inspector.Session()
  session.connect()
  await post(session, "HeapProfiler.enable")
  await post(session, "HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  })
  await client.run(work, requests)
  const { profile } = await post<{ profile: { head: Node } }>(session, "HeapProfiler.stopSampling")
  session.disconnect()
  const bySelf = new Map<string, number>()
  const byFile = new Map<string, number>()
  let total = 0
  const byCaller = new Map<string, number>()
  const walk = (node: Node, ours: string | undefined, callers: string) => {
    const url = short(node.callFrame.url)
    const here = `${node.callFrame.functionName || "(anonymous)"} ${url}:${node.callFrame.lineNumber + 1}`
    const mine = url.startsWith("core/") || url.startsWith("provider-openai/") ? url : ours
    if (node.selfSize > 0) {
      total += node.selfSize
      bySelf.set(here, (bySelf.get(here) ?? 0) + node.selfSize)
      const chain = `${here}  <  ${callers}`
      byCaller.set(chain, (byCaller.get(chain) ?? 0) + node.selfSize)
      byFile.set(mine ?? "(not under our code)", (byFile.get(mine ?? "(not under our code)") ?? 0) + node.selfSize)
    }
    const next = [here, ...callers.split("  <  ")].slice(0, 4).join("  <  ")
    for (const child of node.children) walk(child, mine, next)
  }
  walk(profile.head, undefined, "")
  const print = (title: string, map: Map<string, number>, n: number) => {
    console.log(`\n${title}`)
    for (const [name, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`${String(Math.round(bytes / requests)).padStart(7)} B/req  ${name}`)
    }
  }
  console.log(`${which} c=${concurrency} latency=${latency}: ${Math.round(total / requests)} B sampled per request`)
  print("by our nearest file on the stack", byFile, 25)
  print("by function (self)", bySelf, 50)
  print("by function and its three callers", byCaller, 60)
  await client.close()
  await server.stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
