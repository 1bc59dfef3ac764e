/**
 * Batch API: `fastllm run IN.jsonl -o OUT.jsonl --batch-api --no-cache` as a child process against
 * the testing server's Files and Batch API (its own process, default fast clock: a batch validates
 * in 20 ms and answers 50,000 lines a second); wall time and the CLI's peak RSS
 * (`resourceUsage().maxRSS` at exit, preloaded bench/lib/peakRss.mjs). Memory must stay flat as the
 * job grows: the largest run within 1.2× of the one before it (1,000,000 vs 100,000 lines).
 *
 *   npx tsx bench/batch-api.ts [--sizes 1,100000,1000000] [--batch-size 50000]
 *
 * `--no-cache` so that the memory measured is the job's (request files, uploads, downloads, the
 * merge), not LMDB's page cache; `--poll-interval 200ms`.
 *
 * @since 0.2.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { fmt, numberFlag, type Section, table, tempDir, verdict } from "./lib/report.js"
import { startServer } from "./lib/server.js"
import { checkOutput, cliMode, measureCli, writeInput } from "./memory.js"

interface Row {
  readonly requests: number
  readonly wallMs: number
  readonly maxRssBytes: number
  readonly maxHeapBytes: number
  readonly outputLines: number
  readonly failedLines: number
}

/**
 * Runs one `--batch-api` job per size.
 *
 * @since 0.2.0
 * @category running
 */
export const run = async (options: {
  readonly sizes: ReadonlyArray<number>
  readonly batchSize: number
  readonly log?: (line: string) => void
}): Promise<{ readonly rows: ReadonlyArray<Row>; readonly section: Section }> => {
  const log = options.log ?? (() => {})
  const server = await startServer()
  const dir = tempDir("fastllm-bench-batch-api-")
  const rows: Array<Row> = []
  const mode = cliMode()
  log(`  batch-api: the CLI runs ${mode}`)
  try {
    for (const requests of options.sizes) {
      const input = path.join(dir.path, `in-${requests}.jsonl`)
      const output = path.join(dir.path, `out-${requests}.jsonl`)
      await writeInput(input, requests)
      const measured = await measureCli(
        [input, "-o", output, "--batch-api", "--no-cache", "--base-url", server.url, "--poll-interval", "200ms",
          "--batch-size", String(options.batchSize)],
        dir.path,
        path.join(dir.path, `rss-${requests}.json`)
      )
      if (measured.code !== 0) throw new Error(`fastllm run --batch-api exited with ${measured.code} for ${requests} lines`)
      const checked = await checkOutput(output)
      rows.push({
        requests,
        wallMs: measured.wallMs,
        maxRssBytes: measured.usage.rss,
        maxHeapBytes: measured.usage.heap,
        outputLines: checked.lines,
        failedLines: checked.failed
      })
      log(`  batch-api ${fmt(requests)}: ${fmt(measured.wallMs / 1000, 1)} s, peak RSS ${fmt(measured.usage.rss / 2 ** 20)} MB`)
      fs.rmSync(input)
      fs.rmSync(output)
    }
  } finally {
    dir.dispose()
    await server.stop()
  }
  const mb = (bytes: number) => bytes / 2 ** 20
  const largest = rows[rows.length - 1]
  const previous = rows[rows.length - 2]
  const growth = previous !== undefined && largest !== undefined ? largest.maxRssBytes / previous.maxRssBytes : Number.NaN
  const complete = rows.every((row) => row.outputLines === row.requests && row.failedLines === 0)
  const section: Section = {
    title: "7. Batch API (--batch-api through the local Files and Batch API)",
    markdown: [
      "`fastllm run IN.jsonl -o OUT.jsonl --batch-api --no-cache --poll-interval 200ms --batch-size " + options.batchSize +
      "` as a child process against the testing server's Batch API (its own process; a batch validates in 20 ms and " +
      `answers 50,000 lines/s); peak RSS of the CLI process. The CLI ran ${mode}.`,
      "",
      table(
        ["lines", "batches", "wall", "lines/s", "peak RSS", "peak V8 heap", "output lines", "failed"],
        rows.map((row) => [
          fmt(row.requests),
          fmt(Math.ceil(row.requests / options.batchSize)),
          `${fmt(row.wallMs / 1000, 1)} s`,
          row.requests < 1000 ? "–" : fmt(row.requests / (row.wallMs / 1000)),
          `${fmt(mb(row.maxRssBytes))} MB`,
          `${fmt(mb(row.maxHeapBytes))} MB`,
          fmt(row.outputLines),
          String(row.failedLines)
        ])
      ),
      "",
      `Target ${fmt(largest?.requests ?? 0)} lines ≤ 1.2× the peak RSS of ${fmt(previous?.requests ?? 0)}: ` +
      `${verdict(growth <= 1.2, `${fmt(growth, 2)}×`)}. Every output complete and successful: ${complete ? "yes" : "NO"}. ` +
      "At most two uploads and one download hold a batch's lines in memory at a time; everything else is on disk " +
      "(the job directory next to the cache), so memory depends on `--batch-size`, not on the job's size."
    ].join("\n")
  }
  return { rows, section }
}

const main = async (argv: ReadonlyArray<string>) => {
  const at = argv.indexOf("--sizes")
  const sizes = (at === -1 ? "1,100000,1000000" : argv[at + 1] ?? "").split(",").map(Number)
  const { section } = await run({ sizes, batchSize: numberFlag(argv, "batch-size", 50_000), log: console.log })
  console.log(`\n## ${section.title}\n\n${section.markdown}`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
