// A one-line cached `fastllm run` of each given CLI bundle and the `openai` SDK's one-request script
// (bench/lib/openaiOneRequest.mjs), alternating, each process's CPU (user + system) read with
// `process.cpuUsage()` at its `exit` event (µs resolution; /usr/bin/time in bench/startup.ts has
// 10 ms), medians with quartiles, and the CLI's time split into phases: Node until the main module
// runs, the loader (reading the bundle and its code cache, deserialising), evaluating the bundle
// until the main effect is built, and the run. Steps of a few ms need this; bench/startup.ts is
// the issue's own measure.
//
//   node bench/startupPhases.mjs [--runs 21] [--code-cache real|cached] NAME=packages/cli/dist/fastllm.mjs[@real|@cached] ...
//
// Every bundle gets its own answers cache and its own compile-cache directory (TMPDIR), so each
// code cache is written the same way: with `--code-cache real` (the default) by a first run that
// sent the request, as a user's first run of a file does; with `cached` by a run whose answer was
// already cached. A marked copy of each bundle (two `process.cpuUsage()` statements added) runs from
// a temporary directory next to it (the bundle finds the installed lmdb from its own directory).
// The testing server is `fastllm mock-server` of the first bundle.
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const argv = process.argv.slice(2)
const flag = (name, fallback) => {
  const at = argv.indexOf(`--${name}`)
  if (at < 0) return fallback
  const value = argv[at + 1]
  argv.splice(at, 2)
  return value
}
const runs = Number(flag("runs", "21"))
const codeCache = flag("code-cache", "real")
const bundles = argv.map((arg) => {
  const at = arg.indexOf("=")
  if (at <= 0) throw new Error(`expected NAME=PATH/fastllm.mjs, got ${arg}`)
  // NAME=PATH@cached or @real: this bundle's code cache written that way (default: --code-cache)
  const [file, written = codeCache] = arg.slice(at + 1).split("@")
  if (!["real", "cached"].includes(written)) throw new Error(`${arg}: @real or @cached`)
  return { name: arg.slice(0, at), loader: path.resolve(file), codeCache: written }
})
if (bundles.length === 0 || !["real", "cached"].includes(codeCache)) {
  throw new Error("usage: node bench/startupPhases.mjs [--runs 21] [--code-cache real|cached] NAME=PATH/fastllm.mjs ...")
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-startup-phases-"))
const marked = []
const preload = path.join(dir, "cpu.cjs")
fs.writeFileSync(preload, `
const ms = (u) => u === undefined ? "" : (u.user + u.system) / 1000
const atPreload = process.cpuUsage()
process.once("exit", () => {
  require("node:fs").writeFileSync(process.env.PHASES_FILE,
    [ms(process.cpuUsage()), ms(atPreload), ms(globalThis.__phasesStart), ms(globalThis.__phasesBuilt)].join(" "))
})
`)

/** A copy of the bundle that records the CPU at its first statement and once `main(process.argv)` is built. */
const markedCopy = ({ name, loader }, index) => {
  const from = path.dirname(loader)
  const to = fs.mkdtempSync(path.join(from, "..", ".startup-phases-"))
  marked.push(to)
  for (const file of ["genai-prices.cjs"]) fs.copyFileSync(path.join(from, file), path.join(to, file))
  let bundle = fs.readFileSync(path.join(from, "fastllm.cjs"), "latin1")
  const main = bundle.match(/runMain\d*\((main\d*)\(process\.argv\)/g)
  if (!bundle.startsWith("\"use strict\";") || main === null || main.length !== 1) {
    throw new Error(`${name}: no "use strict" or not one runMain(main(process.argv)) in the bundle`)
  }
  bundle = "\"use strict\";globalThis.__phasesStart=process.cpuUsage();" + bundle.slice("\"use strict\";".length)
  bundle = bundle.replace(/(runMain\d*)\((main\d*)\(process\.argv\)/, (_, run, fn) =>
    `${run}((globalThis.__phasesMain=${fn}(process.argv),globalThis.__phasesBuilt=process.cpuUsage(),globalThis.__phasesMain)`)
  fs.writeFileSync(path.join(to, "fastllm.cjs"), bundle, "latin1")
  const loaderText = fs.readFileSync(loader, "utf8").replace(/const bundleHash = "([0-9a-f]+)"/, `const bundleHash = "$1-phases${index}"`)
  fs.writeFileSync(path.join(to, "fastllm.mjs"), loaderText)
  return path.join(to, "fastllm.mjs")
}

const port = 20000 + Math.floor(Math.random() * 20000)
const server = spawn(process.execPath, [bundles[0].loader, "mock-server", "--port", String(port)], {
  stdio: "ignore",
  env: { ...process.env, TMPDIR: dir }
})
try {
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const one = path.join(dir, "one.jsonl")
  fs.writeFileSync(one, `{"custom_id":"r0","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini",` +
    `"messages":[{"role":"user","content":"startup benchmark question"}],"max_tokens":16}}\n`)
  const phasesFile = path.join(dir, "phases")
  const base = { ...process.env, OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_API_KEY: "sk-bench", PHASES_FILE: phasesFile }
  delete base.NODE_OPTIONS
  for (const key of Object.keys(base)) if (key.startsWith("FASTLLM_")) delete base[key]
  const variants = [
    ...bundles.map((bundle, i) => {
      const tmp = path.join(dir, `tmp-${i}`)
      fs.mkdirSync(tmp)
      return {
        name: bundle.name,
        codeCache: bundle.codeCache,
        args: [markedCopy(bundle, i), "run", one, "-o", path.join(dir, "out.jsonl"), "--progress", "none", "--quiet"],
        env: { ...base, TMPDIR: tmp, FASTLLM_CACHE_DIR: path.join(dir, `cache-${i}`) }
      }
    }),
    { name: "openai SDK", args: [path.join(root, "bench/lib/openaiOneRequest.mjs")], env: base }
  ]
  const once = (variant, extra = {}) => {
    fs.rmSync(phasesFile, { force: true })
    const child = spawnSync(process.execPath, ["--require", preload, ...variant.args], {
      cwd: dir,
      env: { ...variant.env, ...extra },
      stdio: ["ignore", "ignore", "inherit"]
    })
    if (child.status !== 0) throw new Error(`${variant.name} exited with ${child.status}`)
    return fs.readFileSync(phasesFile, "utf8").split(" ").map(Number)
  }
  for (const variant of variants) {
    if (variant.codeCache === "cached") once(variant, { FASTLLM_NO_COMPILE_CACHE: "1" })
    once(variant)
    once(variant)
  }
  const samples = new Map(variants.map((variant) => [variant.name, []]))
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(k + round) % variants.length]
      samples.get(variant.name).push(once(variant))
    }
  }
  const quantile = (values, p) => {
    const sorted = [...values].sort((a, b) => a - b)
    const at = (sorted.length - 1) * p
    const low = Math.floor(at)
    return sorted[low] + (sorted[Math.ceil(at)] - sorted[low]) * (at - low)
  }
  const sdk = quantile(samples.get("openai SDK").map((s) => s[0]), 0.5)
  const load = fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  console.log(`${new Date().toISOString()}, load average ${load}, ${runs} alternating runs each, code caches ${bundles.map((b) => `${b.name} ${b.codeCache}`).join(", ")}; CPU ms`)
  console.log("| process | median | q1 | q3 | × SDK | Node until main | loader | evaluation | the run |")
  console.log("|---|---|---|---|---|---|---|---|---|")
  for (const [name, rows] of samples) {
    const total = rows.map((row) => row[0])
    const phase = (f) => rows[0][3] > 0 ? quantile(rows.map(f), 0.5).toFixed(1) : ""
    console.log(`| ${name} | ${quantile(total, 0.5).toFixed(1)} | ${quantile(total, 0.25).toFixed(1)} | ${quantile(total, 0.75).toFixed(1)} | ` +
      `${(quantile(total, 0.5) / sdk).toFixed(3)} | ${phase((r) => r[1])} | ${phase((r) => r[2] - r[1])} | ${phase((r) => r[3] - r[2])} | ${phase((r) => r[0] - r[3])} |`)
  }
} finally {
  server.kill()
  for (const copy of marked) fs.rmSync(copy, { recursive: true, force: true })
  fs.rmSync(dir, { recursive: true, force: true })
}
