/**
 * The test server's command-line flags, defined once: the standalone `bin.ts` parses argv with
 * {@link parse}, and `fastllm mock-server` builds its @effect/cli options from {@link flags} and
 * turns what it parsed into server options with {@link fromValues}. Both give the same messages.
 * To add a flag: add one entry to {@link flags}.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import type { FaultKind, Faults, Latency, Options } from "./ServerOptions.js"

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const ANY = Number.POSITIVE_INFINITY

/**
 * Server options being built from flags.
 *
 * @since 0.2.0
 * @category models
 */
export interface Draft {
  readonly options: Mutable<Options>
  readonly latency: Mutable<Latency>
  readonly faults: Mutable<Faults>
  /** Which of `latency` / `faults` a flag has set (else they are left out of the options). */
  readonly touched: Set<"latency" | "faults">
}

/**
 * One flag: `--name PLACEHOLDER` (a switch when `placeholder` is absent), its help line, and how
 * its value (`"true"` for a switch) goes into the draft: `undefined`, or a message for the user.
 *
 * @since 0.2.0
 * @category models
 */
export interface Flag {
  readonly name: string
  readonly placeholder?: string | undefined
  readonly description: string
  readonly set: (draft: Draft, value: string) => string | undefined
}

const number = (
  name: string,
  placeholder: string,
  description: string,
  range: readonly [number, number],
  assign: (draft: Draft, value: number) => void
): Flag => ({
  name,
  placeholder,
  description,
  set: (draft, text) => {
    const value = Number(text)
    if (text.trim() === "" || !Number.isFinite(value) || value < range[0] || value > range[1]) {
      const expected = range[1] === ANY ? `>= ${range[0]}` : `in [${range[0]}, ${range[1]}]`
      return `--${name}: expected a number ${expected}, got "${text}"`
    }
    assign(draft, value)
    return undefined
  }
})

const text = (name: string, placeholder: string, description: string, assign: (draft: Draft, value: string) => void): Flag => ({
  name,
  placeholder,
  description,
  set: (draft, value) => {
    assign(draft, value)
    return undefined
  }
})

const toggle = (name: string, description: string, assign: (draft: Draft) => void): Flag => ({
  name,
  description,
  set: (draft) => {
    assign(draft)
    return undefined
  }
})

const latency = (draft: Draft): Mutable<Latency> => {
  draft.touched.add("latency")
  return draft.latency
}

const faults = (draft: Draft): Mutable<Faults> => {
  draft.touched.add("faults")
  return draft.faults
}

const share = (name: string, kind: FaultKind, description: string): Flag =>
  number(name, "P", `share of requests (0..1) that ${description}`, [0, 1], (draft, value) => {
    faults(draft)[kind] = value
  })

/**
 * Every flag of the test server, in help order.
 *
 * @since 0.2.0
 * @category flags
 */
export const flags: ReadonlyArray<Flag> = [
  number("port", "N", "port on 127.0.0.1 (0 = a free port)", [0, 65535], (d, v) => {
    d.options.port = v
  }),
  text("api-key", "KEY", `require "Authorization: Bearer KEY" (with --azure "api-key: KEY"), else 401`, (d, v) => {
    d.options.apiKey = v
  }),
  text("models", "a,b,c", "only these models exist (others 404 model_not_found)", (d, v) => {
    d.options.models = v.split(",").map((model) => model.trim()).filter((model) => model !== "")
  }),
  number("latency", "MS", "latency of successful replies (ms)", [0, ANY], (d, v) => {
    latency(d).minMs = v
  }),
  number("latency-max", "MS", "random latency in [--latency, --latency-max] ms", [0, ANY], (d, v) => {
    latency(d).maxMs = v
  }),
  number("latency-per-token", "MS", "extra latency per output token (ms)", [0, ANY], (d, v) => {
    latency(d).perOutputTokenMs = v
  }),
  number("latency-per-in-flight", "MS", "extra latency per other request in flight (ms)", [0, ANY], (d, v) => {
    latency(d).perInFlightMs = v
  }),
  number(
    "latency-per-in-flight-squared",
    "MS",
    "extra latency per (other requests in flight)^2 (ms): throughput peaks at a concurrency",
    [0, ANY],
    (d, v) => {
      latency(d).perInFlightSquaredMs = v
    }
  ),
  number("rpm", "N", "requests-per-minute limit", [1, ANY], (d, v) => {
    d.options.requestsPerMinute = v
  }),
  number("tpm", "N", "tokens-per-minute limit", [1, ANY], (d, v) => {
    d.options.tokensPerMinute = v
  }),
  number(
    "default-output-tokens",
    "N",
    "tokens charged to --tpm when a request sets no max tokens (16)",
    [0, ANY],
    (d, v) => {
      d.options.defaultOutputTokens = v
    }
  ),
  {
    name: "rate-window",
    placeholder: "D",
    description: "enforce --rpm/--tpm over this window (500ms, 1s, 2s; default 1m): limit x window / 1m at once",
    set: (draft, value) => {
      const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value)
      const amount = Number(match?.[1])
      const ms = match?.[2] === "ms" ? amount : match?.[2] === "m" ? amount * 60_000 : amount * 1000
      if (match === null || !(ms > 0)) return `--rate-window: expected a duration such as 500ms, 1s or 1m, got "${value}"`
      draft.options.rateWindow = Duration.millis(ms)
      return undefined
    }
  },
  toggle("insufficient-quota", "answer every request with 429 insufficient_quota", (d) => {
    d.options.insufficientQuota = true
  }),
  number("seed", "N", "seed of the fault generator", [Number.MIN_SAFE_INTEGER, ANY], (d, v) => {
    faults(d).seed = v
  }),
  share("server-error", "serverError", "get a 500/502/503"),
  share("rate-limit", "rateLimit", "get a 429 with retry-after"),
  share("reset", "reset", "have their connection reset"),
  share("hang", "hang", "never get an answer"),
  share("slow-body", "slowBody", "get their body slowly"),
  share("malformed", "malformed", "get a 200 whose body is not JSON"),
  share("truncated", "truncated", "get a truncated body"),
  number("invalid-output", "P", "share of structured-output answers (0..1) that break their schema", [0, 1], (d, v) => {
    faults(d).invalidOutput = v
  }),
  number("refusal", "P", "share of structured-output answers (0..1) that are refusals", [0, 1], (d, v) => {
    faults(d).refusal = v
  }),
  {
    name: "retry-after",
    placeholder: "MIN[,MAX]",
    description: "retry-after range of injected 429s (ms)",
    set: (draft, value) => {
      const parts = value.split(",").map(Number)
      const min = parts[0] ?? Number.NaN
      const max = parts[1] ?? min
      if (!Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min) {
        return "--retry-after: expected MIN[,MAX] in ms"
      }
      faults(draft).retryAfterMs = [min, max]
      return undefined
    }
  },
  toggle("burst", "an injected 429 refuses every request until its retry-after", (d) => {
    faults(d).burst = true
  }),
  number("slow-body-ms", "MS", "duration of a slow body (200)", [0, ANY], (d, v) => {
    faults(d).slowBodyMs = v
  }),
  toggle("azure", "Azure OpenAI mode: api-key header, /openai/deployments/{d}/...?api-version=V and /openai/v1/...", (d) => {
    d.options.azure = true
  }),
  number("dimensions", "N", "embedding size when a request sets none (8)", [1, 4096], (d, v) => {
    d.options.embeddingDimensions = v
  })
]

const byName = new Map(flags.map((flag) => [flag.name, flag]))

/**
 * Server options from flag values (`[name without --, value]`, `"true"` for a switch), in order;
 * `Left` holds a message for the user.
 *
 * @since 0.2.0
 * @category parsing
 */
export const fromValues = (values: Iterable<readonly [string, string]>): Either.Either<Options, string> => {
  const draft: Draft = { options: {}, latency: { minMs: 0 }, faults: {}, touched: new Set() }
  for (const [name, value] of values) {
    const flag = byName.get(name)
    if (flag === undefined) return Either.left(`Unknown option --${name}\n${usage}`)
    const error = flag.set(draft, value)
    if (error !== undefined) return Either.left(error)
  }
  const options: Mutable<Options> = draft.options
  if (draft.touched.has("latency")) options.latency = draft.latency
  if (draft.touched.has("faults")) options.faults = draft.faults
  return Either.right(options)
}

/**
 * Parses argv (`--name VALUE`, `--name=VALUE`, `--switch`) into server options; `Left` holds a
 * message for the user.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (argv: ReadonlyArray<string>): Either.Either<Options, string> => {
  const values: Array<readonly [string, string]> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf("=")
    const flagText = eq === -1 ? arg : arg.slice(0, eq)
    const flag = flagText.startsWith("--") ? byName.get(flagText.slice(2)) : undefined
    if (flag === undefined) return Either.left(`Unknown option ${flagText}\n${usage}`)
    if (flag.placeholder === undefined) {
      values.push([flag.name, "true"])
      continue
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined) return Either.left(`${flagText} needs a value`)
    values.push([flag.name, value])
  }
  return fromValues(values)
}

/**
 * The usage text of the standalone command, made from {@link flags}.
 *
 * @since 0.2.0
 * @category parsing
 */
export const usage: string = (() => {
  const lefts = flags.map((flag) => `  --${flag.name}${flag.placeholder === undefined ? "" : ` ${flag.placeholder}`}`)
  const width = Math.max(...lefts.map((left) => left.length)) + 2
  return ["Usage: bin.ts [options]", ...flags.map((flag, i) => `${lefts[i]!.padEnd(width)}${flag.description}`)].join("\n")
})()
