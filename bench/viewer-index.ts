/**
 * How fast the viewer opens a big result file: writes a generated Batch output file (chat answers
 * of ~500 bytes, 10% failures), then indexes it in a child process and reports the index time,
 * the first page of rows, a sort and a text search, and the child's peak RSS. Also times a full
 * `JSON.parse` of every line side by side, the obvious way the index does not take.
 *
 *   npx tsx bench/viewer-index.ts [lines=1000000] [--no-write]
 *
 * Writes bench/results/viewer.md (appended to RESULTS.md by `npm run bench`) unless --no-write.
 *
 * @since 0.2.0
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import { ResultIndex } from "../packages/viewer/src/index.js"
import { forEachLine } from "../packages/viewer/src/internal/resultIndex.js"
import { writeResultFile } from "../packages/viewer/test/fixtures/resultFile.js"

const here = path.dirname(fileURLToPath(import.meta.url))

const child = async (file: string) => {
  const rssBeforeMb = Math.round(process.memoryUsage().rss / 1024 / 1024)
  const started = performance.now()
  const report = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const index = yield* ResultIndex.make(file)
    const indexMillis = performance.now() - started
    const time = <A>(effect: Effect.Effect<A, unknown>) =>
      Effect.gen(function*() {
        const t = performance.now()
        yield* effect
        return Math.round(performance.now() - t)
      })
    const firstPage = yield* time(index.page({ limit: 100 }))
    const sortByOutput = yield* time(index.page({ sort: "completion", descending: true, limit: 100 }))
    const failedOnly = yield* time(index.page({ status: "failed", limit: 100 }))
    const search = yield* time(index.page({ search: "item-77777", limit: 100 }))
    const summary = yield* index.summary
    return { lines: summary.lines, indexMillis: Math.round(indexMillis), firstPage, sortByOutput, failedOnly, search }
  })))
  process.stdout.write(JSON.stringify({ ...report, rssBeforeMb, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }))
}

/** The obvious way, for comparison: `JSON.parse` every line (streamed, 4 MB chunks). */
const parseAll = async (file: string) => {
  const t = performance.now()
  let tokens = 0
  await forEachLine(file, (buffer, _text, start, end) => {
    const json: unknown = JSON.parse(buffer.toString("utf8", start, end))
    if (typeof json === "object" && json !== null && "response" in json) tokens++
  })
  process.stdout.write(JSON.stringify({ parseMillis: Math.round(performance.now() - t), tokens }))
}

const main = async () => {
  const argv = process.argv.slice(2)
  if (argv[0] === "--index") return child(argv[1]!)
  if (argv[0] === "--parse") return parseAll(argv[1]!)
  const lines = Number(argv.find((a) => /^\d+$/.test(a)) ?? 1_000_000)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-viewer-bench-"))
  try {
    const file = path.join(dir, "output.jsonl")
    const t = performance.now()
    await writeResultFile(file, lines)
    const bytes = fs.statSync(file).size
    console.log(`generated ${lines.toLocaleString("en-US")} lines, ${(bytes / 1e6).toFixed(0)} MB in ${Math.round(performance.now() - t)} ms`)
    // Each in its own process, so that the peak RSS is the index's own.
    const inChild = (mode: string) =>
      JSON.parse(execFileSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), mode, file], { encoding: "utf8" }))
    const indexOnly = { ...inChild("--index"), ...inChild("--parse") }
    console.log(indexOnly)
    const report = [
      "# Viewer: opening a big result file",
      "",
      `\`npx tsx bench/viewer-index.ts ${lines}\`: a generated Batch output file of ${lines.toLocaleString("en-US")} lines ` +
      `(${(bytes / 1e6).toFixed(0)} MB, chat answers, 10% failures), indexed by \`ResultIndex.make\` in a child process.`,
      "",
      "| lines | index | RSS before → peak of the indexing process | first page | sort by output tokens | failed only | text search | `JSON.parse` of every line |",
      "|---|---|---|---|---|---|---|---|",
      `| ${indexOnly.lines.toLocaleString("en-US")} | ${(indexOnly.indexMillis / 1000).toFixed(1)} s | ${indexOnly.rssBeforeMb} → ${indexOnly.peakRssMb} MB | ${indexOnly.firstPage} ms | ${indexOnly.sortByOutput} ms | ${indexOnly.failedOnly} ms | ${indexOnly.search} ms | ${(indexOnly.parseMillis / 1000).toFixed(1)} s |`,
      "",
      `_Measured ${new Date().toISOString()}; load average ${os.loadavg()[0]!.toFixed(2)}._`,
      ""
    ].join("\n")
    console.log(report)
    if (!argv.includes("--no-write")) fs.writeFileSync(path.join(here, "results", "viewer.md"), report)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
