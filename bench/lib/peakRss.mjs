// Preloaded into a child (`node --import ./bench/lib/peakRss.mjs ...`): on exit, writes the
// process's peak resident set size (bytes), CPU time, and the largest V8 heap / external memory
// sampled every 50 ms to $FASTLLM_BENCH_RSS_FILE as JSON.
import { writeFileSync } from "node:fs"

const file = process.env.FASTLLM_BENCH_RSS_FILE
if (file) {
  let heapTotal = 0
  let heapUsed = 0
  let external = 0
  const sample = () => {
    const usage = process.memoryUsage()
    heapTotal = Math.max(heapTotal, usage.heapTotal)
    heapUsed = Math.max(heapUsed, usage.heapUsed)
    external = Math.max(external, usage.external)
  }
  setInterval(sample, 50).unref()
  process.on("exit", () => {
    sample()
    const usage = process.resourceUsage()
    writeFileSync(file, JSON.stringify({
      maxRssBytes: usage.maxRSS * 1024,
      userMicros: usage.userCPUTime,
      systemMicros: usage.systemCPUTime,
      maxHeapTotalBytes: heapTotal,
      maxHeapUsedBytes: heapUsed,
      maxExternalBytes: external
    }))
  })
}
