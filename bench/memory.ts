/**
 * 3. Memory: the `fastllm` CLI streams a JSONL file of N unique chat requests (OpenAI Batch API
 * lines) to a JSONL output against the testing server (0 ms latency, its own process); the peak
 * RSS of the CLI process is read from `process.resourceUsage().maxRSS` at its exit (preloaded
 * bench/lib/peakRss.mjs). 100,000 and 1,000,000 requests: the second must not need more memory
 * than the first (streaming, constant memory), and both stay under 300 MB.
 *
 *   npx tsx bench/memory.ts [--sizes 1,100000,1000000] [--concurrency 64]
 *
 * The run uses `--no-cache` (the memory of the streaming pipeline, not of LMDB's page cache) and
 * `--progress none`; the output is checked: one line per input, all succeeded.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath, pathToFileURL } from "node:url"
import { fmt, numberFlag, type Section, table, tempDir, verdict } from "./lib/report.js"
import { startServer } from "./lib/server.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const cliBin = path.join(root, "packages/cli/bin/fastllm.js")
const preload = pathToFileURL(path.join(root, "bench/lib/peakRss.mjs")).href

/**
 * One CLI run's measurements.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly requests: number
  readonly wallMs: number
  readonly maxRssBytes: number
  /** Largest V8 heap (total) sampled every 50 ms. */
  readonly maxHeapBytes: number
  readonly cpuMicros: number
  readonly outputLines: number
  readonly failedLines: number
}

/**
 * How bin/fastllm.js will run: its esbuild bundle when `dist/fastllm.mjs` is newer than every
 * workspace source file (and FASTLLM_FROM_SOURCE is not 1), else the sources through tsx. The same
 * rule as the bin's, so the section says which one it measured.
 */
export const cliMode = (): string => {
  const dist = path.join(root, "packages/cli/dist/fastllm.mjs")
  if (process.env.FASTLLM_FROM_SOURCE === "1" || !fs.existsSync(dist)) return "the TypeScript sources through tsx"
  const built = fs.statSync(dist).mtimeMs
  const newest = (dir: string): number =>
    fs.readdirSync(dir, { withFileTypes: true }).reduce((max, entry) => {
      const file = path.join(dir, entry.name)
      return Math.max(max, entry.isDirectory() ? newest(file) : entry.name.endsWith(".ts") ? fs.statSync(file).mtimeMs : 0)
    }, 0)
  const packages = path.join(root, "packages")
  const stale = fs.readdirSync(packages).some((name) => {
    const src = path.join(packages, name, "src")
    return fs.existsSync(src) && newest(src) > built
  })
  return stale ? "the TypeScript sources through tsx (its bundle is older than the sources)" : "its esbuild bundle (packages/cli/dist/fastllm.mjs)"
}

/** Writes `count` Batch API lines, streaming (a 1M-line file never sits in memory). */
export const writeInput = async (file: string, count: number): Promise<void> => {
  const out = fs.createWriteStream(file)
  for (let i = 0; i < count; i++) {
    const line = `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini",` +
      `"messages":[{"role":"user","content":"memory benchmark question ${i}"}],"max_tokens":16}}\n`
    if (!out.write(line)) await new Promise<void>((resolve) => out.once("drain", () => resolve()))
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => error ? reject(error) : resolve()))
}

/** Counts output lines and those reporting an error, streaming. */
export const checkOutput = async (file: string): Promise<{ readonly lines: number; readonly failed: number }> => {
  let lines = 0
  let failed = 0
  for await (const line of createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
    if (line === "") continue
    lines++
    if (!line.includes('"status_code":200') || !line.includes('"error":null')) failed++
  }
  return { lines, failed }
}

/**
 * Runs `fastllm run ARGS --progress none --quiet` as a child with the peak-RSS probe preloaded;
 * returns its exit code, wall time, peak RSS, peak V8 heap and CPU time.
 *
 * @since 0.2.0
 * @category running
 */
export const measureCli = async (
  args: ReadonlyArray<string>,
  cwd: string,
  report: string
): Promise<{ readonly code: number | null; readonly wallMs: number; readonly usage: { readonly rss: number; readonly heap: number; readonly cpu: number } }> => {
  const start = performance.now()
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", preload, cliBin, "run", ...args, "--progress", "none", "--quiet"],
      { cwd, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, FASTLLM_BENCH_RSS_FILE: report, OPENAI_API_KEY: "sk-bench-not-a-real-key" } }
    )
    child.once("error", reject)
    child.once("exit", (exitCode) => resolve(exitCode))
  })
  const wallMs = performance.now() - start
  const parsed: unknown = code === 0 ? JSON.parse(fs.readFileSync(report, "utf8")) : undefined
  const usage = typeof parsed === "object" && parsed !== null && "maxRssBytes" in parsed && "userMicros" in parsed &&
      "systemMicros" in parsed && "maxHeapTotalBytes" in parsed
    ? {
      rss: Number(parsed.maxRssBytes),
      heap: Number(parsed.maxHeapTotalBytes),
      cpu: Number(parsed.userMicros) + Number(parsed.systemMicros)
    }
    : { rss: Number.NaN, heap: Number.NaN, cpu: Number.NaN }
  return { code, wallMs, usage }
}

/**
 * Runs the CLI once per size.
 *
 * @since 0.1.0
 * @category running
 */
export const run = async (options: {
  readonly sizes: ReadonlyArray<number>
  readonly concurrency: number
  readonly log?: (line: string) => void
}): Promise<{ readonly rows: ReadonlyArray<Row>; readonly section: Section }> => {
  const log = options.log ?? (() => {})
  const server = await startServer()
  const dir = tempDir("fastllm-bench-memory-")
  const rows: Array<Row> = []
  const mode = cliMode()
  log(`  memory: the CLI runs ${mode}`)
  try {
    for (const requests of options.sizes) {
      const input = path.join(dir.path, `in-${requests}.jsonl`)
      const output = path.join(dir.path, `out-${requests}.jsonl`)
      const report = path.join(dir.path, `rss-${requests}.json`)
      await writeInput(input, requests)
      const measured = await measureCli(
        [input, "-o", output, "--no-cache", "--base-url", server.url, "--concurrency", String(options.concurrency)],
        dir.path,
        report
      )
      const { usage, wallMs } = measured
      if (measured.code !== 0) throw new Error(`fastllm run exited with ${measured.code} for ${requests} requests`)
      const checked = await checkOutput(output)
      rows.push({ requests, wallMs, maxRssBytes: usage.rss, maxHeapBytes: usage.heap, cpuMicros: usage.cpu, outputLines: checked.lines, failedLines: checked.failed })
      log(`  memory ${fmt(requests)}: peak RSS ${fmt(usage.rss / 2 ** 20)} MB, ${fmt(requests / (wallMs / 1000))} req/s, ` +
        `${fmt(checked.lines)} lines, ${checked.failed} failed`)
      fs.rmSync(input)
      fs.rmSync(output)
    }
  } finally {
    dir.dispose()
    await server.stop()
  }
  const mb = (bytes: number) => bytes / 2 ** 20
  const peak = Math.max(...rows.map((row) => row.maxRssBytes))
  // Growth: the largest run against the one before it (the first run, one request, is the baseline:
  // what loading the CLI costs before any streaming).
  const largest = rows[rows.length - 1]
  const previous = rows[rows.length - 2]
  const growth = previous !== undefined && largest !== undefined ? largest.maxRssBytes / previous.maxRssBytes : Number.NaN
  const complete = rows.every((row) => row.outputLines === row.requests && row.failedLines === 0)
  const section: Section = {
    title: "3. Memory (streamed JSONL → JSONL)",
    markdown: [
      "`fastllm run IN.jsonl -o OUT.jsonl --no-cache --concurrency " + options.concurrency + "` as a child process " +
      `against the testing server (0 ms); peak RSS of the CLI process (\`resourceUsage().maxRSS\` at exit). The CLI ran ${mode}.`,
      "",
      table(
        ["requests", "peak RSS", "peak V8 heap", "wall", "req/s", "CPU µs/req (CLI)", "output lines", "failed"],
        rows.map((row) => [
          fmt(row.requests),
          `${fmt(mb(row.maxRssBytes))} MB`,
          `${fmt(mb(row.maxHeapBytes))} MB`,
          `${fmt(row.wallMs / 1000, 1)} s`,
          row.requests < 1000 ? "–" : fmt(row.requests / (row.wallMs / 1000)),
          row.requests < 1000 ? "–" : fmt(row.cpuMicros / row.requests, 1),
          fmt(row.outputLines),
          String(row.failedLines)
        ])
      ),
      "",
      `Target ≤ 300 MB: ${verdict(mb(peak) <= 300, `peak ${fmt(mb(peak))} MB`)}. Target ${fmt(largest?.requests ?? 0)} ` +
      `run ≤ 1.2× the ${fmt(previous?.requests ?? 0)} run: ${verdict(growth <= 1.2, `${fmt(growth, 2)}×`)}. ` +
      `Every output complete and successful: ${complete ? "yes" : "NO"}. The 1-request run is the baseline: ` +
      "the memory of the loaded CLI before any streaming."
    ].join("\n")
  }
  return { rows, section }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2)
  const sizesIndex = argv.indexOf("--sizes")
  const sizes = sizesIndex === -1 ? [1, 100_000, 1_000_000] : (argv[sizesIndex + 1] ?? "").split(",").map(Number)
  run({ sizes, concurrency: numberFlag(argv, "concurrency", 64), log: console.log })
    .then(({ section }) => console.log(`\n## ${section.title}\n\n${section.markdown}`))
    .catch((error) => {
      console.error(error)
      process.exitCode = 1
    })
}
