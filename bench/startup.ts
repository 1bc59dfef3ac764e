/**
 * CLI start-up and the CLI's own cost per line (issue 18), every process a child of this one
 * and measured by `/usr/bin/time` (user + system CPU) and the wall clock around it:
 *
 * - start-up: `node -e ''`, `fastllm --help`, the floor of any `--help` on @effect/cli
 *   (bench/lib/cliFloor.ts, bundled and run the same way), a one-line `fastllm run` whose answer is cached,
 *   and a minimal script on the official `openai` SDK sending one request
 *   (bench/lib/openaiOneRequest.mjs), both against the testing server (0 ms, its own process);
 *   `--runs` runs of each, alternating, medians.
 * - per line (`--lines N`, 0 skips it): `fastllm run` of an N-line file cold (empty cache), its warm
 *   rerun (every answer cached), and with `--no-cache`, next to a raw undici loop in this process
 *   sending the same N requests (CPU per request; the ceiling).
 *
 *   npx tsx bench/startup.ts [--runs 11] [--lines 100000] [--entry packages/cli/dist/fastllm.mjs] [--before PATH]
 *
 * `--entry` is the CLI's bundle as a global install runs it (bin/fastllm.js imports it);
 * `--before PATH` adds another bundle to every start-up row (a build of the previous commit) for
 * before/after numbers from one run.
 *
 * @since 0.2.0
 */
import { build } from "esbuild"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { apiKey, bodies, rawUndici } from "./lib/clients.js"
import { fmt, median, numberFlag, table, tempDir } from "./lib/report.js"
import { startServer } from "./lib/server.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const stringFlag = (argv: ReadonlyArray<string>, name: string, fallback: string | undefined): string | undefined => {
  const at = argv.indexOf(`--${name}`)
  return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1] : fallback
}

/** One child's CPU (user + system) and wall time, in milliseconds, and its exit code. */
interface Measured {
  readonly cpuMs: number
  readonly wallMs: number
  readonly code: number | null
}

/** The environment of every child: no NODE_OPTIONS (npm's source condition), the server and key. */
const childEnv = (extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key !== "NODE_OPTIONS" && !key.startsWith("OPENAI_") && !key.startsWith("FASTLLM_")) env[key] = value
  }
  return { ...env, ...extra }
}

const timeFile = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "fastllm-startup-time-")), "time")

/** Runs `node ARGS` under `/usr/bin/time -f "%U %S"`. */
const timed = (args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv }) =>
  new Promise<Measured>((resolve, reject) => {
    const start = performance.now()
    const child = spawn("/usr/bin/time", ["-f", "%U %S", "-o", timeFile, process.execPath, ...args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "ignore", "inherit"]
    })
    child.once("error", reject)
    child.once("exit", (code) => {
      const wallMs = performance.now() - start
      const [user, system] = fs.readFileSync(timeFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number)
      resolve({ cpuMs: ((user ?? Number.NaN) + (system ?? Number.NaN)) * 1000, wallMs, code })
    })
  })

/** bench/lib/cliFloor.ts bundled as the CLI is (scripts/build.mjs): `DIR/fastllm.mjs` runs it. */
const buildFloor = async (dir: string): Promise<string> => {
  await build({
    entryPoints: [path.join(root, "bench/lib/cliFloor.ts")],
    outfile: path.join(dir, "fastllm.cjs"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minifyWhitespace: true,
    charset: "ascii",
    logLevel: "warning"
  })
  const hash = createHash("sha256").update(fs.readFileSync(path.join(dir, "fastllm.cjs"))).digest("hex").slice(0, 32)
  const loader = fs.readFileSync(path.join(root, "packages/cli/scripts/loader.mjs"), "utf8")
  fs.writeFileSync(path.join(dir, "fastllm.mjs"), loader.replace("\"BUNDLE_HASH\"", JSON.stringify(hash)))
  return path.join(dir, "fastllm.mjs")
}

const writeInput = (file: string, count: number, salt: string) =>
  fs.writeFileSync(
    file,
    Array.from({ length: count }, (_, i) =>
      `{"custom_id":"r${i}","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini",` +
      `"messages":[{"role":"user","content":"startup benchmark ${salt} question ${i}"}],"max_tokens":16}}\n`).join("")
  )

const main = async () => {
  const argv = process.argv.slice(2)
  const runs = numberFlag(argv, "runs", 11)
  const lines = Number(stringFlag(argv, "lines", "100000"))
  const entry = path.resolve(root, stringFlag(argv, "entry", "packages/cli/dist/fastllm.mjs")!)
  const before = stringFlag(argv, "before", undefined)
  const server = await startServer()
  const dir = tempDir("fastllm-bench-startup-")
  const env = childEnv({ OPENAI_BASE_URL: server.url, OPENAI_API_KEY: apiKey, FASTLLM_CACHE_DIR: path.join(dir.path, "cache") })
  const cwd = dir.path
  const one = path.join(dir.path, "one.jsonl")
  writeInput(one, 1, "one-line")
  const sdkScript = path.join(root, "bench/lib/openaiOneRequest.mjs")
  const floor = await buildFloor(fs.mkdtempSync(path.join(dir.path, "floor-")))
  const entries: ReadonlyArray<readonly [string, string]> = before === undefined
    ? [["", entry]]
    : [[" (before)", path.resolve(root, before)], ["", entry]]
  try {
    // The cache gets the one line's answer, for every bundle.
    for (const [, bundle] of entries) {
      const primed = await timed([bundle, "run", one, "-o", path.join(dir.path, "one-out.jsonl"), "--progress", "none", "--quiet"], { cwd, env })
      if (primed.code !== 0) throw new Error(`fastllm run (priming the cache) exited with ${primed.code}`)
    }
    // ... and every bundle's code cache is made (the first run of each writes it).
    for (const [, bundle] of entries) await timed([bundle, "--help"], { cwd, env })
    await timed([floor, "--help"], { cwd, env })
    const variants: Array<{ readonly name: string; readonly args: ReadonlyArray<string> }> = [
      { name: "node -e ''", args: ["-e", ""] },
      { name: "floor: @effect/cli + effect only, --help", args: [floor, "--help"] },
      ...entries.map(([label, bundle]) => ({ name: `fastllm --help${label}`, args: [bundle, "--help"] })),
      ...entries.map(([label, bundle]) => ({
        name: `fastllm run, 1 cached line${label}`,
        args: [bundle, "run", one, "-o", path.join(dir.path, "one-out.jsonl"), "--progress", "none", "--quiet"]
      })),
      { name: "openai SDK, 1 request", args: [sdkScript] }
    ]
    const samples = new Map(variants.map((variant) => [variant.name, [] as Array<Measured>]))
    for (let round = 0; round < runs; round++) {
      for (let k = 0; k < variants.length; k++) {
        const variant = variants[(k + round) % variants.length]!
        const measured = await timed(variant.args, { cwd, env })
        if (measured.code !== 0) throw new Error(`${variant.name} exited with ${measured.code}`)
        samples.get(variant.name)!.push(measured)
      }
    }
    const cpu = (name: string) => median(samples.get(name)!.map((s) => s.cpuMs))
    const wall = (name: string) => median(samples.get(name)!.map((s) => s.wallMs))
    const bare = cpu("node -e ''")
    const sdk = "openai SDK, 1 request"
    console.log(`\nStart-up: ${runs} runs each, alternating; medians (${entry})\n`)
    console.log(table(
      ["process", "CPU ms (user+sys)", "wall ms", "CPU × node -e ''", "CPU × SDK script", "wall × SDK script"],
      variants.map(({ name }) => [
        name,
        fmt(cpu(name)),
        fmt(wall(name)),
        fmt(cpu(name) / bare, 2),
        fmt(cpu(name) / cpu(sdk), 2),
        fmt(wall(name) / wall(sdk), 2)
      ])
    ))

    if (lines > 0) {
      const input = path.join(dir.path, "lines.jsonl")
      writeInput(input, lines, `lines-${Date.now()}`)
      const out = path.join(dir.path, "lines-out.jsonl")
      const cacheEnv = { ...env, FASTLLM_CACHE_DIR: path.join(dir.path, "lines-cache") }
      const cli = (extra: ReadonlyArray<string>) =>
        timed([entry, "run", input, "-o", out, "--progress", "none", "--quiet", ...extra], { cwd, env: cacheEnv })
      const noCache = await cli(["--no-cache"])
      const cold = await cli([])
      const warm = await cli([])
      for (const [name, m] of [["no-cache", noCache], ["cold", cold], ["warm", warm]] as const) {
        if (m.code !== 0) throw new Error(`fastllm run (${name}) exited with ${m.code}`)
      }
      const raw = rawUndici(server.url, 64)
      const work = bodies(lines, `raw-${Date.now()}`)
      await raw.run(work, Math.min(lines, 3000))
      const cpuStart = process.cpuUsage()
      const rawStart = performance.now()
      await raw.run(work, lines)
      const rawWallMs = performance.now() - rawStart
      const rawCpu = process.cpuUsage(cpuStart)
      await raw.close()
      const rawCpuMs = (rawCpu.user + rawCpu.system) / 1000
      const perLine = (ms: number) => ms * 1000 / lines
      const rate = (ms: number) => lines / (ms / 1000)
      console.log(`\nPer line: ${fmt(lines)} lines, concurrency 64, testing server at 0 ms\n`)
      console.log(table(
        ["run", "wall s", "lines/s", "CPU µs/line (whole process)", "CPU × raw undici"],
        [
          ["raw undici loop (in the bench process)", fmt(rawWallMs / 1000, 1), fmt(rate(rawWallMs)), fmt(perLine(rawCpuMs), 1), "1.00"],
          ...([["fastllm run --no-cache", noCache], ["fastllm run, cold (empty cache)", cold], ["fastllm run, warm rerun", warm]] as const).map(
            ([name, m]) => [name, fmt(m.wallMs / 1000, 1), fmt(rate(m.wallMs)), fmt(perLine(m.cpuMs), 1), fmt(m.cpuMs / rawCpuMs, 2)]
          )
        ]
      ))
      console.log(`\nwarm rerun ÷ cold lines/s: ${fmt(cold.wallMs / warm.wallMs, 2)}`)
    }
  } finally {
    dir.dispose()
    fs.rmSync(path.dirname(timeFile), { recursive: true, force: true })
    await server.stop()
  }
}

await main()
