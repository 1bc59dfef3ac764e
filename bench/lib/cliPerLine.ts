/**
 * The CLI's CPU per line against the raw undici loop, old bundle and new side by side (issue 18,
 * "CLI ≤ 4× raw"): `fastllm run IN -o OUT --no-cache --concurrency 64` of one N-line file for each
 * bundle, and the raw undici loop sending the same number of requests in this process, against the
 * testing server at 0 ms in its own process. Every child is measured by `/usr/bin/time` (user +
 * system CPU); `--runs` rounds, the variants alternating (their order rotates each round), medians.
 *
 *   npx tsx bench/lib/cliPerLine.ts [--lines 50000] [--runs 5] [--entry packages/cli/dist/fastllm.mjs] [--before PATH[,PATH...]] [--warm]
 *
 * `--warm`: the CLI runs with its disk cache, primed by one unmeasured run, so every line is a hit
 * (the warm rerun), instead of `--no-cache`.
 *
 * `--before` is a copy of an earlier build's `packages/cli/dist` (its `fastllm.mjs`; several,
 * comma-separated, oldest first), in a directory with the cli's package.json and a `node_modules`
 * that resolves the workspace's (a symlink) when it lives outside the repository.
 *
 * @since 0.2.0
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { apiKey, bodies, rawUndici } from "./clients.js"
import { fmt, median, numberFlag, table, tempDir } from "./report.js"
import { startServer } from "./server.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const argv = process.argv.slice(2)
const stringFlag = (name: string, fallback: string | undefined): string | undefined => {
  const at = argv.indexOf(`--${name}`)
  return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1] : fallback
}
const lines = numberFlag(argv, "lines", 50_000)
const runs = numberFlag(argv, "runs", 5)
const entry = path.resolve(root, stringFlag("entry", "packages/cli/dist/fastllm.mjs")!)
const before = stringFlag("before", undefined)
const warm = argv.includes("--warm")
const mode = warm ? "warm (every line cached)" : "--no-cache"

const timeFile = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "fastllm-perline-time-")), "time")

/** `node ARGS` under `/usr/bin/time`: CPU (user + system) and wall milliseconds. */
const timed = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  new Promise<{ readonly cpuMs: number; readonly wallMs: number }>((resolve, reject) => {
    const start = performance.now()
    const child = spawn("/usr/bin/time", ["-f", "%U %S", "-o", timeFile, process.execPath, ...args], {
      env,
      stdio: ["ignore", "ignore", "inherit"]
    })
    child.once("error", reject)
    child.once("exit", (code) => {
      const wallMs = performance.now() - start
      if (code !== 0) return reject(new Error(`node ${args.join(" ")} exited with ${code}`))
      const [user, system] = fs.readFileSync(timeFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number)
      resolve({ cpuMs: ((user ?? Number.NaN) + (system ?? Number.NaN)) * 1000, wallMs })
    })
  })

const main = async () => {
  const server = await startServer()
  const dir = tempDir("fastllm-bench-perline-")
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key !== "NODE_OPTIONS" && !key.startsWith("OPENAI_") && !key.startsWith("FASTLLM_")) env[key] = value
  }
  Object.assign(env, { OPENAI_BASE_URL: server.url, OPENAI_API_KEY: apiKey, FASTLLM_CACHE_DIR: path.join(dir.path, "cache") })
  const input = path.join(dir.path, "lines.jsonl")
  fs.writeFileSync(
    input,
    Array.from({ length: lines }, (_, i) =>
      `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini",` +
      `"messages":[{"role":"user","content":"per-line benchmark question ${i}"}],"max_tokens":16}}\n`).join("")
  )
  const cli = (bundle: string) => async () => {
    const out = path.join(dir.path, "out.jsonl")
    const m = await timed([bundle, "run", input, "-o", out, ...(warm ? [] : ["--no-cache"]), "--concurrency", "64", "--progress", "none", "--quiet"], env)
    const written = fs.readFileSync(out, "utf8").split("\n").length - 1
    if (written !== lines) throw new Error(`${bundle} wrote ${written} lines, not ${lines}`)
    return m
  }
  const raw = rawUndici(server.url, 64)
  const work = bodies(lines, `raw-${Date.now()}`)
  await raw.run(work, Math.min(lines, 3000))
  const rawRun = async () => {
    const cpuStart = process.cpuUsage()
    const start = performance.now()
    await raw.run(work, lines)
    const wallMs = performance.now() - start
    const cpu = process.cpuUsage(cpuStart)
    return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs }
  }
  const variants: ReadonlyArray<readonly [string, () => Promise<{ readonly cpuMs: number; readonly wallMs: number }>]> = [
    ["raw undici loop (in the bench process)", rawRun],
    ...(before === undefined ? [] : before.split(",")).map((bundle, i, all) =>
      [`fastllm run ${mode} (before${all.length > 1 ? ` ${i + 1}` : ""}: ${path.basename(path.dirname(path.dirname(bundle)))})`, cli(path.resolve(root, bundle))] as const
    ),
    [`fastllm run ${mode}`, cli(entry)]
  ]
  if (warm) await cli(entry)() // primes the cache
  const samples = new Map(variants.map(([name]) => [name, [] as Array<{ readonly cpuMs: number; readonly wallMs: number }>]))
  try {
    for (let round = 0; round < runs; round++) {
      for (let k = 0; k < variants.length; k++) {
        const [name, body] = variants[(k + round) % variants.length]!
        samples.get(name)!.push(await body())
      }
    }
  } finally {
    await raw.close()
    dir.dispose()
    fs.rmSync(path.dirname(timeFile), { recursive: true, force: true })
    await server.stop()
  }
  const cpu = (name: string) => median(samples.get(name)!.map((s) => s.cpuMs))
  const wall = (name: string) => median(samples.get(name)!.map((s) => s.wallMs))
  const rawCpu = cpu(variants[0]![0])
  console.log(`\nCPU per line: ${fmt(lines)} lines, concurrency 64, testing server at 0 ms, ${runs} rounds alternating, medians\n`)
  console.log(table(
    ["run", "wall s", "lines/s", "CPU µs/line (whole process)", "CPU × raw undici"],
    variants.map(([name]) => [
      name,
      fmt(wall(name) / 1000, 1),
      fmt(lines / (wall(name) / 1000)),
      fmt(cpu(name) * 1000 / lines, 1),
      fmt(cpu(name) / rawCpu, 2)
    ])
  ))
}

await main()
