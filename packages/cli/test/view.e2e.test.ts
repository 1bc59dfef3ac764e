import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type Browser, chromium, type Page } from "playwright-core"
import { inputLine, kindOf, outputLine, writeLines } from "../../viewer/test/fixtures/resultFile.js"
import { start, tempDir, waitUntil } from "./fixtures/childProcess.js"

// A real browser (Debian's chromium, driven by playwright-core) against a real `fastllm` child.

/** Where screenshots go: $FASTLLM_ARTIFACTS (CI can keep it), else a directory under the temp dir. */
const artifacts = process.env.FASTLLM_ARTIFACTS ?? path.join(os.tmpdir(), "fastllm-artifacts")

const browser: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox"] })),
  (b) => Effect.promise(() => b.close())
)

const newPage = (b: Browser, colorScheme: "light" | "dark" = "light") =>
  Effect.promise(async () => {
    const page = await b.newPage({ viewport: { width: 1400, height: 1000 }, colorScheme })
    const errors: Array<string> = []
    page.on("pageerror", (e) => errors.push(e.message))
    return { page, errors }
  })

const screenshot = (page: Page, name: string) =>
  Effect.promise(async () => {
    fs.mkdirSync(artifacts, { recursive: true })
    const file = path.join(artifacts, name)
    await page.screenshot({ path: file })
    console.log(`screenshot: ${file}`)
    return file
  })

/** Waits until the element at `selector` has exactly `text`. */
const hasText = (page: Page, selector: string, text: string) =>
  Effect.promise(() =>
    page.locator(selector, { hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }).waitFor()
  )

const hostileAnswer = `<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = 'img'">`
const hostileId = `<img src=x onerror="window.__pwned='id'">`
const structured = JSON.stringify({ city: "Paris", population: 2_100_000, tags: ["capital"] })

const output = (i: number) => {
  if (i === 1) return outputLine(i, hostileAnswer)
  if (i === 2) return outputLine(i, structured)
  if (i === 5) return outputLine(i).replace("\"custom_id\":\"item-5\"", JSON.stringify({ custom_id: hostileId }).slice(1, -1))
  return outputLine(i)
}
const input = (i: number) =>
  i === 1 ? inputLine(i, `<script>window.__pwned = "request"</script>`) : i === 5 ? inputLine(i).replace("\"item-5\"", JSON.stringify(hostileId)) : inputLine(i)

describe("fastllm view in a browser", () => {
  it.scopedLive("shows rows, filters them, opens an item next to its request, and runs nothing from the file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const outFile = path.join(dir, "out.jsonl")
      const inFile = path.join(dir, "in.jsonl")
      yield* Effect.promise(() => writeLines(outFile, 5_000, output))
      yield* Effect.promise(() => writeLines(inFile, 5_000, input))
      const b = yield* browser
      const viewer = yield* start(["view", outFile, "--input", inFile], { cwd: dir })
      yield* waitUntil(() => viewer.stdout().includes("\n") || viewer.child.exitCode !== null)
      const url = viewer.stdout().trim()
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, viewer.stderr())
      assert.include(viewer.stderr(), "5,000 items indexed")

      const { page, errors } = yield* newPage(b)
      const response = yield* Effect.promise(() => page.goto(url))
      assert.include(response?.headers()["content-security-policy"], "script-src 'self'")
      yield* Effect.promise(() => page.waitForSelector("body[data-ready=true]"))
      const text = (selector: string) => Effect.promise(() => page.locator(selector).innerText())
      const count = (selector: string) => Effect.promise(() => page.locator(selector).count())

      // Rows render: the first page of 100, the summary, the charts.
      assert.strictEqual(yield* count("#rows tr"), 100)
      assert.strictEqual(yield* text("#range"), "1–100 of 5,000")
      assert.include(yield* text("#cards"), "4,500")
      assert.isAbove(yield* count("#chart-histogram canvas"), 0)
      assert.isAbove(yield* count("#chart-errors canvas"), 0)

      // A filter: failures only, then one error code.
      yield* Effect.promise(() => page.selectOption("#f-status", "failed"))
      yield* hasText(page, "#range", "1–100 of 500")
      const statuses = yield* Effect.promise(() => page.locator("#rows tr td:nth-child(3)").allInnerTexts())
      assert.strictEqual(statuses.length, 100)
      assert.isTrue(statuses.every((s) => s !== "ok"), statuses.join(","))
      yield* Effect.promise(() => page.selectOption("#f-code", "timeout"))
      const timeouts = Array.from({ length: 5_000 }, (_, i) => kindOf(i)).filter((kind) => kind === "timeout").length
      yield* hasText(page, "#range", `1–100 of ${timeouts}`)
      yield* Effect.promise(() => page.selectOption("#f-code", ""))
      yield* Effect.promise(() => page.selectOption("#f-status", ""))
      // Text search (server-side, over the raw lines).
      yield* Effect.promise(() => page.fill("#f-search", "Answer 4242:"))
      yield* hasText(page, "#range", "1–1 of 1")
      assert.strictEqual(yield* text("#rows tr td:nth-child(2)"), "item-4242")
      yield* Effect.promise(() => page.fill("#f-search", ""))
      yield* hasText(page, "#range", "1–100 of 5,000")

      // An item opens: the request's messages as bubbles, the structured answer as a table.
      yield* Effect.promise(() => page.click("#rows tr[data-row='2'] td.id"))
      yield* Effect.promise(() => page.waitForSelector("#detail:not([hidden]) #detail-answer .bubble"))
      assert.strictEqual(yield* text("#detail-title"), "item-2")
      assert.include(yield* text("#detail-request .bubble.user"), "Question 2: what does the fox do?")
      assert.include(yield* text("#detail-answer table.values"), "Paris")
      const shot = yield* screenshot(page, "viewer-item.png")
      assert.isTrue(fs.statSync(shot).size > 10_000)

      // Hostile content is shown as text and never runs (answer, request and custom_id).
      yield* Effect.promise(() => page.keyboard.press("Escape"))
      yield* Effect.promise(() => page.click("#rows tr[data-row='1'] td.id"))
      yield* hasText(page, "#detail-title", "item-1")
      assert.include(yield* text("#detail-answer"), "<script>window.__pwned = \"script\"</script>")
      assert.include(yield* text("#detail-request"), "<script>window.__pwned = \"request\"</script>")
      assert.include(yield* text("#rows tr[data-row='5'] td.id"), hostileId)
      yield* Effect.promise(() => page.keyboard.press("Escape"))
      yield* Effect.promise(() => page.click("#rows tr[data-row='5'] td.num"))
      yield* hasText(page, "#detail-title", hostileId)
      yield* Effect.sleep("200 millis")
      assert.strictEqual(yield* Effect.promise(() => page.evaluate<string>("typeof window.__pwned")), "undefined")
      assert.strictEqual(yield* count("img"), 0)
      assert.strictEqual(yield* count("#detail script, #rows script"), 0)
      assert.deepStrictEqual(errors, [])

      // The same page in dark mode (the charts take the scheme's colours).
      const dark = yield* newPage(b, "dark")
      yield* Effect.promise(() => dark.page.goto(url))
      yield* Effect.promise(() => dark.page.waitForSelector("body[data-ready=true]"))
      yield* screenshot(dark.page, "viewer-dark.png")
    }), { timeout: 120_000 })

  it.scopedLive("fastllm run --ui shows the run live: progress, rates, failures, the end", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey: "sk-ui", latency: { minMs: 20, maxMs: 40 } })
      const dir = yield* tempDir
      const lines = Array.from({ length: 240 }, (_, i) =>
        i % 40 === 7
          ? JSON.stringify({ custom_id: `hot-${i}`, url: "/v1/chat/completions", body: { model: "gpt-4o-mini", temperature: 3, messages: [{ role: "user", content: "x" }] } })
          : inputLine(i))
      const inFile = path.join(dir, "in.jsonl")
      fs.writeFileSync(inFile, lines.join("\n") + "\n")
      const b = yield* browser
      const { page, errors } = yield* newPage(b)
      const run = yield* start(
        ["run", inFile, "-o", path.join(dir, "out.jsonl"), "--ui", "--concurrency", "2", "--no-cache", "--base-url", server.url],
        { cwd: dir, env: { OPENAI_API_KEY: "sk-ui" } }
      )
      yield* waitUntil(() => /live view at http/.test(run.stderr()) || run.child.exitCode !== null)
      const url = /live view at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(run.stderr())?.[1]
      assert.isDefined(url, run.stderr())
      yield* Effect.promise(() => page.goto(url!))
      yield* Effect.promise(() => page.waitForSelector("#live:not([hidden]) #live-cards .card"))
      assert.include(yield* Effect.promise(() => page.locator("#live-cards").innerText()), "concurrency 2")
      yield* Effect.promise(() => page.waitForSelector("#live-failures tr"))
      assert.include(yield* Effect.promise(() => page.locator("#live-failures").innerText()), "hot-7")
      assert.isAbove(yield* Effect.promise(() => page.locator("#chart-requests canvas").count()), 0)
      yield* Effect.promise(() => page.waitForSelector("body.run-done", { timeout: 60_000 }))
      assert.include(yield* Effect.promise(() => page.locator("#live-status").innerText()), "finished: 240 items")
      yield* screenshot(page, "viewer-live.png")
      const finished = yield* run.finished
      assert.strictEqual(finished.code, 1, finished.stderr) // the hot lines failed
      assert.include(finished.stderr, "Done: 240 items") // the terminal summary is still there
      assert.deepStrictEqual(errors, [])
    }), { timeout: 120_000 })
})
