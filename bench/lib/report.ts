/**
 * Small pieces shared by the benchmark sections: medians, alternating rounds, the machine's
 * description and Markdown tables.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"

/**
 * The median of a non-empty list (the upper one of the two middle values for even lengths).
 *
 * @since 0.1.0
 * @category math
 */
export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/**
 * One measured run: wall time, client CPU (user + system) and the number of requests.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sample {
  readonly requests: number
  readonly wallMs: number
  readonly cpuMicros: number
}

/**
 * Runs `body` once, timing wall clock and this process's CPU.
 *
 * @since 0.1.0
 * @category measuring
 */
export const measure = async (requests: number, body: () => Promise<void>): Promise<Sample> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await body()
  const wallMs = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { requests, wallMs, cpuMicros: used.user + used.system }
}

/**
 * Requests per second of a sample.
 *
 * @since 0.1.0
 * @category measuring
 */
export const perSecond = (sample: Sample): number => sample.requests / (sample.wallMs / 1000)

/**
 * CPU microseconds per request of a sample.
 *
 * @since 0.1.0
 * @category measuring
 */
export const cpuPerRequest = (sample: Sample): number => sample.cpuMicros / sample.requests

/**
 * A named contender of a side-by-side comparison.
 *
 * @since 0.1.0
 * @category models
 */
export interface Variant {
  readonly name: string
  /** Runs the first `count` requests of the workload. */
  readonly run: (count: number) => Promise<void>
}

/**
 * Alternating rounds: one untimed warm-up of every variant (`warmup` requests, default
 * min(requests, 3000)), then `rounds` × (A, B, C, ...), so JIT
 * warm-up and the machine's drift fall on all of them alike. The order rotates each round.
 *
 * @since 0.1.0
 * @category measuring
 */
export const alternate = async (
  variants: ReadonlyArray<Variant>,
  requests: number,
  rounds: number,
  options: { readonly warmup?: number; readonly onSample?: (name: string, sample: Sample) => void } = {}
): Promise<Map<string, Array<Sample>>> => {
  const samples = new Map<string, Array<Sample>>(variants.map((variant) => [variant.name, []]))
  const warmup = options.warmup ?? Math.min(requests, 3000)
  if (warmup > 0) for (const variant of variants) await variant.run(warmup)
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < variants.length; k++) {
      const variant = variants[(k + round) % variants.length]!
      global.gc?.()
      const sample = await measure(requests, () => variant.run(requests))
      samples.get(variant.name)!.push(sample)
      options.onSample?.(variant.name, sample)
    }
  }
  return samples
}

/**
 * Median requests/s and CPU µs/request of a variant's samples.
 *
 * @since 0.1.0
 * @category measuring
 */
export const summarize = (samples: ReadonlyArray<Sample>): { readonly rate: number; readonly cpu: number } => ({
  rate: median(samples.map(perSecond)),
  cpu: median(samples.map(cpuPerRequest))
})

/**
 * The machine: CPU model, cores, memory, Node version and load average now.
 *
 * @since 0.1.0
 * @category models
 */
export const machine = (): string => {
  const cpus = os.cpus()
  const load = os.loadavg().map((value) => value.toFixed(2)).join(", ")
  return `${cpus[0]?.model ?? "unknown CPU"} × ${cpus.length} (nproc ${os.availableParallelism()}), ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, ` +
    `load average ${load}`
}

/**
 * A Markdown table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

/**
 * Formats a number with thousands separators and `digits` decimals.
 *
 * @since 0.1.0
 * @category formatting
 */
export const fmt = (value: number, digits = 0): string =>
  Number.isFinite(value)
    ? value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "n/a"

/**
 * "met" or "MISSED", with the target text.
 *
 * @since 0.1.0
 * @category formatting
 */
export const verdict = (ok: boolean, target: string): string => `${ok ? "met" : "MISSED"} (${target})`

/**
 * The result of one benchmark section: its title and Markdown body (for the console and RESULTS.md).
 *
 * @since 0.1.0
 * @category models
 */
export interface Section {
  readonly title: string
  readonly markdown: string
}

/**
 * Reads a `--name value` flag: the value, or undefined.
 *
 * @since 0.3.0
 * @category parsing
 */
export const stringFlag = (argv: ReadonlyArray<string>, name: string): string | undefined => {
  const index = argv.indexOf(`--${name}`)
  return index === -1 ? undefined : argv[index + 1]
}

/**
 * Reads a numeric `--name value` flag.
 *
 * @since 0.1.0
 * @category parsing
 */
export const numberFlag = (argv: ReadonlyArray<string>, name: string, fallback: number): number => {
  const index = argv.indexOf(`--${name}`)
  const value = index === -1 ? undefined : Number(argv[index + 1])
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback
}

/**
 * A temporary directory, removed by `dispose`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tempDir = (prefix: string): { readonly path: string; readonly dispose: () => void } => {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/${prefix}`)
  return { path: dir, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) }
}
