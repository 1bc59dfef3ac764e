/**
 * Effect operations (fiber run-loop steps) per item, old against new: `manager.run` of unique
 * bodies through a provider that answers after `--latency` ms from a timer (0: at once), no cache,
 * counted by a Supervisor's `onEffect`. A deterministic companion to the CPU tables of
 * bench/lib/libSteps.ts: on a shared machine CPU per item moves ±20% between runs, the number of
 * operations (each one an allocation or more for the GC) does not.
 *
 *   node --conditions=@fastllm/source --import tsx bench/lib/opCount.ts --base REV \
 *     [--requests 2000] [--concurrency 64] [--latency 0] [--window N|default] [--versions old,new]
 *
 * `OP_HIST=FILE` also writes the operations by kind and code (the first 90 characters of the
 * function an operation runs), most frequent first.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Schema from "effect/Schema"
import * as Supervisor from "effect/Supervisor"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { bodies } from "./clients.js"
import { numberFlag, stringFlag } from "./report.js"

type Core = typeof import("@fastllm/core")

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..")
const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => stringFlag(argv, name)

const hist = new Map<string, number>()
process.on("exit", () => {
  if (process.env.OP_HIST === undefined) return
  const rows = [...hist.entries()].sort((a, b) => b[1] - a[1]).slice(0, 70)
  fs.writeFileSync(process.env.OP_HIST, rows.map(([k, v]) => `${String(v).padStart(8)} ${k}`).join("\n"))
})

/** Counts every operation of every fiber that inherits it. */
class Counter extends Supervisor.AbstractSupervisor<number> {
  count = 0
  get value() {
    return Effect.sync(() => this.count)
  }
  override onEffect<A, E>(_fiber: Fiber.RuntimeFiber<A, E>, _effect: Effect.Effect<unknown, unknown, unknown>): void {
    this.count++
    if (process.env.OP_HIST !== undefined) {
      const e = _effect as unknown as Record<string, unknown>
      const fn = [e["effect_instruction_i0"], e["effect_instruction_i1"], e["effect_instruction_i2"]].find((x) => typeof x === "function") as Function | undefined
      const key = `${String(e["_op"])} ${fn === undefined ? "" : fn.toString().replace(/\s+/g, " ").slice(0, 90)}`
      hist.set(key, (hist.get(key) ?? 0) + 1)
    }
  }
}

const loadCore = async (revision: string | undefined): Promise<Core> => {
  if (revision === undefined) return await import("@fastllm/core")
  const sha = execFileSync("git", ["rev-parse", "--short", revision], { cwd: root, encoding: "utf8" }).trim()
  const dir = path.join(root, "bench/out", `base-${sha}`)
  if (!fs.existsSync(path.join(dir, "packages/core/src/index.ts"))) {
    throw new Error(`run bench/lib/libSteps.ts --base ${revision} once first (it extracts ${dir})`)
  }
  return await import(pathToFileURL(path.join(dir, "packages/core/src/index.ts")).href) as Core
}

const main = async () => {
  const base = flag("base")
  if (base === undefined) throw new Error("--base REV is required")
  const requests = numberFlag(argv, "requests", 2000)
  const concurrency = numberFlag(argv, "concurrency", 64)
  const millis = numberFlag(argv, "latency", 0)
  const window = flag("window") === "default" ? {} : { window: numberFlag(argv, "window", concurrency) }
  const versions = (flag("versions") ?? "old,new").split(",")
  for (const [version, revision] of ([["old", base], ["new", undefined]] as const).filter(([v]) => versions.includes(v))) {
    const core = await loadCore(revision)
    const answer = Schema.decodeUnknownSync(core.ChatResponse.ChatResponse)({
      id: "chatcmpl-bench",
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: "Echo" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 8, completion_tokens: 10, total_tokens: 18 }
    })
    const provider = {
      ...core.Provider.fromFunctions({
        name: "counted",
        chat: () =>
          millis <= 0 ? Effect.succeed(answer) : Effect.async<typeof answer>((resume) => {
            const timer = setTimeout(() => resume(Effect.succeed(answer)), millis)
            return Effect.sync(() => clearTimeout(timer))
          })
      }),
      enforcesTimeout: true
    }
    const counts: Array<number> = []
    for (const salt of ["a", "b"]) {
      const work = bodies(requests, `ops-${version}-${salt}`)
      const counter = new Counter()
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const manager = yield* Effect.provide(
          core.RequestManager.make({ concurrency, ...window, maxRetries: 2 }),
          Layer.merge(core.Cache.none, Layer.succeed(core.Provider.Provider, provider))
        )
        const result = yield* Effect.withRuntimeFlagsPatch(
          Effect.supervised(manager.run(work), counter),
          RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision)
        )
        if (result.stats.failed > 0) throw new Error(`${result.stats.failed} failed`)
      })))
      counts.push(counter.count / requests)
    }
    console.log(`${version}: ${counts.map((c) => c.toFixed(1)).join(", ")} operations per item`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
