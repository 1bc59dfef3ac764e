/**
 * The transport-neutral heart of the test server: it turns one HTTP request (method, URL, headers,
 * raw body) into an {@link Outcome} (a response to write, possibly after a delay, or a fault to act
 * out). Plain synchronous code: it runs once per request on the hot path of every benchmark, so it
 * allocates little and never enters an Effect. The parts live beside it, one concept each:
 * routes.ts (the endpoints), validate.ts, buckets.ts (rate limits), faults.ts, stats.ts, reply.ts.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type { Options, ServerStats } from "../ServerOptions.js"
import { authenticate, type Headers } from "./auth.js"
import { RateBuckets, rateLimited } from "./buckets.js"
import { FaultInjector } from "./faults.js"
import { mulberry32 } from "./prng.js"
import { type Outcome, type Rejection, isRejection, notFound, reject, withHeaders } from "./reply.js"
import type { Route, RouteContext, ServerRequest } from "./route.js"
import { routeGroups } from "./routes.js"
import { Stats } from "./stats.js"

export type { Outcome } from "./reply.js"
export { defaultModels } from "./routes/models.js"
export { estimateTokens } from "./validate.js"

export type { Headers } from "./auth.js"

/**
 * Request handling and statistics of one server.
 *
 * @internal
 */
export class Engine {
  private options: Options = {}
  private latencyRandom: () => number = mulberry32(0)
  private readonly buckets = new RateBuckets()
  private readonly faults = new FaultInjector()
  private readonly statistics: Stats
  private readonly routes: ReadonlyArray<Route>
  private requestCounter = 0

  constructor(options: Options, private readonly now: () => number = () => performance.now()) {
    this.statistics = new Stats(now)
    this.configure(options, true)
    const context: RouteContext = {
      options: () => this.options,
      now: this.now,
      json: (status, value, headers, delayMs) => this.json(status, value, headers ?? this.peekHeaders(), delayMs),
      checkModel: (model) => this.checkModel(model),
      guarded: (model, tokenCost, reply) => this.guarded(model, tokenCost, reply),
      latency: (outputTokens) => this.latency(outputTokens),
      dispatch: (request) => this.dispatch(request),
      structuredAnswer: (kind) => this.statistics.structuredAnswer(kind)
    }
    this.routes = routeGroups.flatMap((group) => group(context))
  }

  /** Merges `patch` into the options; new limits start with full buckets, new faults re-seed. */
  configure(patch: Partial<Options>, initial = false): void {
    this.options = { ...this.options, ...patch }
    const window = this.options.rateWindow
    const limits = {
      requestsPerMinute: this.options.requestsPerMinute,
      tokensPerMinute: this.options.tokensPerMinute,
      windowMs: window === undefined ? undefined : Duration.toMillis(Duration.decode(window))
    }
    const now = this.now()
    const newWindow = "rateWindow" in patch
    if (initial || newWindow || "requestsPerMinute" in patch) this.buckets.set(limits, ["requests"], now)
    if (initial || newWindow || "tokensPerMinute" in patch) this.buckets.set(limits, ["tokens"], now)
    const seed = this.options.faults?.seed ?? 0
    if (initial || "faults" in patch) this.faults.reseed(seed)
    if (initial || "faults" in patch || "latency" in patch) this.latencyRandom = mulberry32(seed ^ 0x5bd1e995)
  }

  /** A request started (connection-level concurrency). */
  enter(): void {
    this.statistics.enter()
  }

  /** A request's response finished or its connection closed. */
  exit(): void {
    this.statistics.exit()
  }

  stats(): ServerStats {
    return this.statistics.snapshot()
  }

  resetStats(): void {
    this.statistics.reset()
  }

  /** Handles one request whose body has been read completely. */
  handle(method: string | undefined, url: string | undefined, headers: Headers, body: Buffer): Outcome {
    const raw = url ?? "/"
    const queryAt = raw.indexOf("?")
    const path = queryAt === -1 ? raw : raw.slice(0, queryAt)
    this.statistics.received(path, body)
    const request: ServerRequest = {
      method: method ?? "GET",
      path,
      query: new URLSearchParams(queryAt === -1 ? "" : raw.slice(queryAt + 1)),
      headers,
      body,
      params: []
    }
    const result = this.route(request)
    return isRejection(result) ? this.fail(result) : result
  }

  private route(request: ServerRequest): Outcome | Rejection {
    return authenticate(this.options, request.headers) ?? this.dispatch(request)
  }

  private dispatch(request: ServerRequest): Outcome | Rejection {
    for (const route of this.routes) {
      if (route.method !== request.method) continue
      if (typeof route.path === "string") {
        if (route.path === request.path) return route.handle(request)
        continue
      }
      const match = route.path.exec(request.path)
      if (match !== null) return route.handle({ ...request, params: match.slice(1) })
    }
    return notFound(`Invalid URL (${request.method} ${request.path})`)
  }

  private checkModel(model: string): Rejection | undefined {
    const models = this.options.models
    return models !== undefined && !models.includes(model)
      ? notFound(`The model '${model}' does not exist or you do not have access to it.`, "model_not_found")
      : undefined
  }

  /** Quota, rate-limit buckets and faults in front of a successful reply. */
  private guarded(model: string, tokenCost: number, reply: () => Outcome): Outcome {
    const now = this.now()
    const take = this.buckets.take(tokenCost, now)
    if (take._tag === "Short") {
      return this.fail(rateLimited(model, take.kind, take.waitMs, take.headers, take.bucket, take.requested))
    }
    const limitHeaders = take.headers
    if (this.options.insufficientQuota === true) {
      return this.fail(reject(429, {
        message:
          "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type: "insufficient_quota",
        param: null,
        code: "insufficient_quota"
      }, limitHeaders))
    }
    const burst = this.faults.burstWait(now)
    if (burst > 0) return this.fail(rateLimited(model, "requests", burst, limitHeaders))
    const fault = this.faults.pick(this.options.faults)
    if (fault === undefined) return withHeaders(reply(), limitHeaders)
    this.statistics.injected(fault)
    const outcome = this.faults.actOut(fault, this.options.faults, model, now, limitHeaders, reply)
    return isRejection(outcome) ? this.fail(outcome) : outcome
  }

  /** The `x-ratelimit-*` headers of the buckets as they are now, taking nothing. */
  private peekHeaders(): Record<string, string> {
    return this.buckets.peek(this.now())
  }

  private latency(outputTokens: number): number {
    const latency = this.options.latency
    if (latency === undefined) return 0
    const min = latency.minMs
    const max = latency.maxMs ?? min
    const base = max > min ? min + this.latencyRandom() * (max - min) : min
    const others = Math.max(0, this.statistics.concurrent() - 1)
    return base + (latency.perOutputTokenMs ?? 0) * outputTokens + (latency.perInFlightMs ?? 0) * others +
      (latency.perInFlightSquaredMs ?? 0) * others * others
  }

  private json(status: number, value: unknown, headers: Record<string, string>, delayMs = 0): Outcome {
    this.statistics.responded(status)
    this.requestCounter++
    return {
      _tag: "Respond",
      status,
      headers: {
        "content-type": "application/json",
        ...headers,
        ...(delayMs > 0 ? { "x-fastllm-latency-ms": String(Math.round(delayMs)) } : {}),
        "x-request-id": `req_${this.requestCounter.toString(16)}`
      },
      body: JSON.stringify(value),
      delayMs
    }
  }

  /** The error response of a refusal: its own headers, else the buckets' as they are now. */
  private fail(rejection: Rejection): Outcome {
    return this.json(rejection.status, { error: rejection.error }, rejection.headers ?? this.peekHeaders())
  }
}
