/**
 * The transport-neutral heart of the test server: it turns one HTTP request (method, path,
 * authorization header, raw body) into an {@link Outcome} (a response to write, possibly after a
 * delay, or a fault to act out), and keeps the statistics. Plain synchronous code: it runs once per
 * request on the hot path of every benchmark, so it allocates little and never enters an Effect.
 *
 * @internal
 */
import { RateLimitHeaders } from "@fastllm/core"
import { createHash } from "node:crypto"
import type { FaultKind, Options, ServerStats } from "../TestServer.js"
import { mulberry32 } from "./prng.js"

/** What the transport must do for one request. @internal */
export type Outcome =
  | {
    readonly _tag: "Respond"
    readonly status: number
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
  }
  | { readonly _tag: "Reset"; readonly delayMs: number }
  | { readonly _tag: "Hang" }
  | {
    readonly _tag: "SlowBody"
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
    readonly chunks: number
    readonly chunkDelayMs: number
  }
  | {
    readonly _tag: "Truncated"
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
  }

/** Models listed by `GET /v1/models` when `options.models` is not set (any model is then accepted). @internal */
export const defaultModels: ReadonlyArray<string> = [
  "gpt-4o-mini",
  "gpt-4o",
  "gpt-4.1-mini",
  "gpt-4.1-nano",
  "text-embedding-3-small",
  "text-embedding-3-large"
]

/** Token estimate used everywhere in the server: ceil(characters / 4). @internal */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

const faultKinds: ReadonlyArray<FaultKind> = [
  "serverError",
  "rateLimit",
  "reset",
  "hang",
  "slowBody",
  "malformed",
  "truncated"
]

const emptyFaultCounts = (): Record<FaultKind, number> => ({
  serverError: 0,
  rateLimit: 0,
  reset: 0,
  hang: 0,
  slowBody: 0,
  malformed: 0,
  truncated: 0
})

const MINUTE_MS = 60_000
const ORGANIZATION = "org-fastllm-test"

/** A token bucket refilled continuously: `limit` units per minute, capacity `limit`. @internal */
class Bucket {
  level: number
  updatedAt: number
  constructor(readonly limit: number, now: number) {
    this.level = limit
    this.updatedAt = now
  }
  refill(now: number): void {
    if (now > this.updatedAt) {
      this.level = Math.min(this.limit, this.level + ((now - this.updatedAt) * this.limit) / MINUTE_MS)
      this.updatedAt = now
    }
  }
  /** Milliseconds until the bucket holds `amount`. */
  waitFor(amount: number): number {
    return amount <= this.level ? 0 : ((amount - this.level) * MINUTE_MS) / this.limit
  }
  /** Milliseconds until the bucket is full again (OpenAI's `x-ratelimit-reset-*`). */
  resetMillis(): number {
    return ((this.limit - this.level) * MINUTE_MS) / this.limit
  }
}

interface ErrorBody {
  readonly message: string
  readonly type: string
  readonly param: string | null
  readonly code: string | null
}

const jsonHeaders = (extra?: Record<string, string>): Record<string, string> => ({
  "content-type": "application/json",
  ...extra
})

const typeName = (value: unknown): string =>
  value === null
    ? "null"
    : Array.isArray(value)
    ? "an array"
    : typeof value === "string"
    ? "a string"
    : typeof value === "number"
    ? (Number.isInteger(value) ? "an integer" : "a decimal")
    : typeof value === "boolean"
    ? "a boolean"
    : "an object"

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

class RequestError {
  constructor(readonly status: number, readonly error: ErrorBody) {}
}

const invalid = (message: string, param: string | null, code: string | null): RequestError =>
  new RequestError(400, { message, type: "invalid_request_error", param, code })

const invalidType = (param: string, expected: string, value: unknown): RequestError =>
  invalid(
    `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`,
    param,
    "invalid_type"
  )

const missing = (param: string): RequestError =>
  invalid(`Missing required parameter: '${param}'.`, param, "missing_required_parameter")

const messageRoles: ReadonlyArray<string> = ["system", "developer", "user", "assistant", "tool", "function"]

/** Throws OpenAI's "below minimum" / "above maximum" error when `value` is outside [min, max]. */
const checkRange = (param: string, kind: "integer" | "decimal", value: number, min: number, max: number): void => {
  const [side, code, bound] = value < min
    ? ["below minimum", "below_min", `>= ${min}`]
    : value > max
    ? ["above maximum", "above_max", `<= ${max}`]
    : []
  if (side === undefined) return
  throw invalid(
    `Invalid '${param}': ${kind} ${side} value. Expected a value ${bound}, but got ${value} instead.`,
    param,
    `${kind}_${code}_value`
  )
}

const optionalInt = (
  body: Record<string, unknown>,
  param: string,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER
): number | undefined => {
  const value = body[param]
  if (value === undefined || value === null) return undefined
  if (typeof value !== "number" || !Number.isInteger(value)) throw invalidType(param, "an integer", value)
  checkRange(param, "integer", value, min, max)
  return value
}

const optionalNumber = (body: Record<string, unknown>, param: string, min: number, max: number): void => {
  const value = body[param]
  if (value === undefined || value === null) return
  if (typeof value !== "number" || !Number.isFinite(value)) throw invalidType(param, "a decimal", value)
  checkRange(param, "decimal", value, min, max)
}

const requireModel = (body: Record<string, unknown>): string => {
  const model = body["model"]
  if (model === undefined || model === null) throw invalid("you must provide a model parameter", null, null)
  if (typeof model !== "string") throw invalidType("model", "a string", model)
  if (model === "") throw invalid("Invalid 'model': empty string. Expected a model name.", "model", "empty_string")
  return model
}

/** The text of a message's content: a string, or the `text` of its text parts. */
const contentText = (content: unknown, param: string): string => {
  if (content === undefined || content === null) return ""
  if (typeof content === "string") return content
  if (!Array.isArray(content)) throw invalidType(param, "one of a string or array of objects", content)
  let text = ""
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i]
    const partParam = `${param}[${i}]`
    if (!isRecord(part)) throw invalidType(partParam, "an object", part)
    const type = part["type"]
    if (typeof type !== "string") throw missing(`${partParam}.type`)
    if (type === "text") {
      const partText = part["text"]
      if (typeof partText !== "string") throw invalidType(`${partParam}.text`, "a string", partText)
      text += partText
    }
  }
  return text
}

interface ChatPlan {
  readonly model: string
  readonly promptTokens: number
  readonly lastUserText: string
  readonly maxTokens: number | undefined
  readonly n: number
}

const validateChat = (body: Record<string, unknown>): ChatPlan => {
  const model = requireModel(body)
  const messages = body["messages"]
  if (messages === undefined || messages === null) throw missing("messages")
  if (!Array.isArray(messages)) throw invalidType("messages", "an array of objects", messages)
  if (messages.length === 0) {
    throw invalid(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      "messages",
      "empty_array"
    )
  }
  let chars = 0
  let lastUserText = ""
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i]
    const param = `messages[${i}]`
    if (!isRecord(message)) throw invalidType(param, "an object", message)
    const role = message["role"]
    if (role === undefined) throw missing(`${param}.role`)
    if (typeof role !== "string" || !messageRoles.includes(role)) {
      throw invalid(
        `Invalid value: '${String(role)}'. Supported values are: ${messageRoles.map((r) => `'${r}'`).join(", ")}.`,
        `${param}.role`,
        "invalid_value"
      )
    }
    const content = message["content"]
    if (content === undefined && role !== "assistant") throw missing(`${param}.content`)
    const text = contentText(content, `${param}.content`)
    chars += text.length
    if (role === "user") lastUserText = text
  }
  const maxTokens = optionalInt(body, "max_tokens", 0)
  const maxCompletionTokens = optionalInt(body, "max_completion_tokens", 0)
  const n = optionalInt(body, "n", 1, 128) ?? 1
  optionalNumber(body, "temperature", 0, 2)
  optionalNumber(body, "top_p", 0, 1)
  optionalNumber(body, "frequency_penalty", -2, 2)
  optionalNumber(body, "presence_penalty", -2, 2)
  optionalInt(body, "seed", Number.MIN_SAFE_INTEGER)
  const stream = body["stream"]
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    throw invalidType("stream", "a boolean", stream)
  }
  if (stream === true) {
    throw invalid(
      "This test server does not stream: send 'stream': false or leave it out.",
      "stream",
      "unsupported_value"
    )
  }
  return {
    model,
    promptTokens: Math.ceil(chars / 4),
    lastUserText,
    maxTokens: maxCompletionTokens ?? maxTokens,
    n
  }
}

interface EmbeddingPlan {
  readonly model: string
  readonly inputs: ReadonlyArray<string | ReadonlyArray<number>>
  readonly promptTokens: number
  readonly dimensions: number | undefined
  readonly base64: boolean
}

const isIntArray = (value: unknown): boolean =>
  Array.isArray(value) && value.every((item) => typeof item === "number" && Number.isInteger(item))

const validateEmbeddings = (body: Record<string, unknown>): EmbeddingPlan => {
  const model = requireModel(body)
  const input = body["input"]
  if (input === undefined || input === null) throw missing("input")
  const inputTypes = "one of a string, an array of strings, an array of integers, or an array of integer arrays"
  let inputs: Array<string | ReadonlyArray<number>>
  if (typeof input === "string") inputs = [input]
  else if (!Array.isArray(input)) throw invalidType("input", inputTypes, input)
  else {
    const items: ReadonlyArray<unknown> = input
    if (items.length === 0) {
      throw invalid("Invalid 'input': empty array. Expected an array with minimum length 1.", "input", "empty_array")
    }
    if (items.every((item) => typeof item === "string")) inputs = items.map(String)
    else if (isIntArray(items)) inputs = [items.map(Number)]
    else if (items.every(isIntArray)) inputs = items.map((item) => Array.isArray(item) ? item.map(Number) : [])
    else throw invalidType("input", inputTypes, input)
  }
  let promptTokens = 0
  for (let i = 0; i < inputs.length; i++) {
    const item = inputs[i]!
    if (item.length === 0) {
      throw invalid(`Invalid 'input[${i}]': empty input. Expected a non-empty value.`, `input[${i}]`, "empty_string")
    }
    promptTokens += typeof item === "string" ? estimateTokens(item) : item.length
  }
  const dimensions = optionalInt(body, "dimensions", 1, 4096)
  const format = body["encoding_format"]
  if (format !== undefined && format !== null && format !== "float" && format !== "base64") {
    throw invalid(
      `Invalid value: '${String(format)}'. Supported values are: 'float' and 'base64'.`,
      "encoding_format",
      "invalid_value"
    )
  }
  return { model, inputs, promptTokens, dimensions, base64: format === "base64" }
}

/** A deterministic unit vector of `dimensions` float32 values derived from the input's hash. */
const embeddingVector = (input: string | ReadonlyArray<number>, dimensions: number): Float32Array => {
  const digest = createHash("sha256").update(typeof input === "string" ? input : JSON.stringify(input)).digest()
  const random = mulberry32(digest.readUInt32LE(0) ^ digest.readUInt32LE(4))
  const vector = new Float32Array(dimensions)
  let norm = 0
  for (let i = 0; i < dimensions; i++) {
    const value = random() * 2 - 1
    vector[i] = value
    norm += value * value
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 1
  for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! * scale
  return vector
}

const DEFAULT_RETRY_AFTER_MS: readonly [number, number] = [20, 100]
const DEFAULT_SLOW_BODY_MS = 200
const SLOW_BODY_CHUNKS = 4

/**
 * Request handling and statistics of one server.
 *
 * @internal
 */
export class Engine {
  private options: Options = {}
  private faultRandom: () => number = mulberry32(0)
  private latencyRandom: () => number = mulberry32(0)
  private requestBucket: Bucket | undefined
  private tokenBucket: Bucket | undefined
  private burstUntil = 0
  private requestCounter = 0

  // statistics
  private requests = 0
  private byBodyHash = new Map<string, number>()
  private maxConcurrent = 0
  private inFlight = 0
  private rateLimited = 0
  private byStatus: Record<number, number> = {}
  private byPath: Record<string, number> = {}
  private faults: Record<FaultKind, number> = emptyFaultCounts()

  constructor(options: Options, private readonly now: () => number = () => performance.now()) {
    this.configure(options, true)
  }

  /** Merges `patch` into the options; new limits start with full buckets, new faults re-seed. */
  configure(patch: Partial<Options>, initial = false): void {
    const previous = this.options
    this.options = { ...previous, ...patch }
    const now = this.now()
    if ("requestsPerMinute" in patch || this.requestBucket === undefined) {
      const rpm = this.options.requestsPerMinute
      this.requestBucket = rpm !== undefined && rpm > 0 ? new Bucket(rpm, now) : undefined
    }
    if ("tokensPerMinute" in patch || this.tokenBucket === undefined) {
      const tpm = this.options.tokensPerMinute
      this.tokenBucket = tpm !== undefined && tpm > 0 ? new Bucket(tpm, now) : undefined
    }
    const seed = this.options.faults?.seed ?? 0
    if (initial || "faults" in patch) {
      this.faultRandom = mulberry32(seed)
    }
    if (initial || "faults" in patch || "latency" in patch) this.latencyRandom = mulberry32(seed ^ 0x5bd1e995)
  }

  /** A request started (connection-level concurrency). */
  enter(): void {
    this.inFlight++
    if (this.inFlight > this.maxConcurrent) this.maxConcurrent = this.inFlight
  }

  /** A request's response finished or its connection closed. */
  exit(): void {
    this.inFlight--
  }

  stats(): ServerStats {
    return {
      requests: this.requests,
      byBodyHash: new Map(this.byBodyHash),
      maxConcurrent: this.maxConcurrent,
      inFlight: this.inFlight,
      rateLimited: this.rateLimited,
      byStatus: { ...this.byStatus },
      byPath: { ...this.byPath },
      faults: { ...this.faults }
    }
  }

  resetStats(): void {
    this.requests = 0
    this.byBodyHash = new Map()
    this.maxConcurrent = this.inFlight
    this.rateLimited = 0
    this.byStatus = {}
    this.byPath = {}
    this.faults = emptyFaultCounts()
  }

  /** Handles one request whose body has been read completely. */
  handle(method: string | undefined, url: string | undefined, authorization: string | undefined, body: Buffer): Outcome {
    this.requests++
    const query = url === undefined ? -1 : url.indexOf("?")
    const path = url === undefined ? "/" : query === -1 ? url : url.slice(0, query)
    this.byPath[path] = (this.byPath[path] ?? 0) + 1
    if (body.length > 0) {
      const hash = createHash("sha256").update(body).digest("hex")
      this.byBodyHash.set(hash, (this.byBodyHash.get(hash) ?? 0) + 1)
    }
    try {
      return this.route(method ?? "GET", path, authorization, body)
    } catch (error) {
      if (error instanceof Refusal) return error.outcome
      if (error instanceof RequestError) return this.error(error.status, error.error, this.peekHeaders())
      throw error
    }
  }

  private route(method: string, path: string, authorization: string | undefined, body: Buffer): Outcome {
    const apiKey = this.options.apiKey
    if (apiKey !== undefined && apiKey !== "") this.authenticate(apiKey, authorization)
    if (method === "POST" && path === "/v1/chat/completions") {
      const plan = validateChat(this.parse(body))
      this.checkModel(plan.model)
      return this.guarded(plan.model, plan.promptTokens + (plan.maxTokens ?? this.defaultOutputTokens()), () =>
        this.chat(plan))
    }
    if (method === "POST" && path === "/v1/embeddings") {
      const plan = validateEmbeddings(this.parse(body))
      this.checkModel(plan.model)
      return this.guarded(plan.model, plan.promptTokens, () => this.embeddings(plan))
    }
    if (method === "GET" && path === "/v1/models") {
      return this.json(200, {
        object: "list",
        data: this.listedModels().map((id) => this.modelObject(id))
      }, this.peekHeaders())
    }
    if (method === "GET" && path.startsWith("/v1/models/")) {
      let id = path.slice("/v1/models/".length)
      try {
        id = decodeURIComponent(id)
      } catch {
        // keep the raw id
      }
      this.checkModel(id)
      return this.json(200, this.modelObject(id), this.peekHeaders())
    }
    throw new RequestError(404, {
      message: `Invalid URL (${method} ${path})`,
      type: "invalid_request_error",
      param: null,
      code: null
    })
  }

  private defaultOutputTokens(): number {
    return this.options.defaultOutputTokens ?? 16
  }

  private listedModels(): ReadonlyArray<string> {
    return this.options.models ?? defaultModels
  }

  private modelObject(id: string) {
    return { id, object: "model", created: 1_700_000_000, owned_by: "fastllm-testing" }
  }

  private authenticate(apiKey: string, authorization: string | undefined): void {
    if (authorization === undefined || authorization === "") {
      throw new RequestError(401, {
        message:
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        type: "invalid_request_error",
        param: null,
        code: null
      })
    }
    if (authorization !== `Bearer ${apiKey}`) {
      const given = authorization.startsWith("Bearer ") ? authorization.slice(7) : authorization
      const masked = given.length > 8 ? `${given.slice(0, 3)}*****${given.slice(-4)}` : "*****"
      throw new RequestError(401, {
        message: `Incorrect API key provided: ${masked}.`,
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key"
      })
    }
  }

  private parse(body: Buffer): Record<string, unknown> {
    let value: unknown
    try {
      value = JSON.parse(body.toString("utf8"))
    } catch {
      value = undefined
    }
    if (!isRecord(value)) {
      throw invalid(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        null,
        null
      )
    }
    return value
  }

  private checkModel(model: string): void {
    const models = this.options.models
    if (models !== undefined && !models.includes(model)) {
      throw new RequestError(404, {
        message: `The model '${model}' does not exist or you do not have access to it.`,
        type: "invalid_request_error",
        param: null,
        code: "model_not_found"
      })
    }
  }

  /** Quota, rate-limit buckets and faults in front of a successful reply. */
  private guarded(model: string, tokenCost: number, reply: () => Outcome): Outcome {
    const now = this.now()
    const limitHeaders = this.takeOrRefuse(model, tokenCost, now)
    if (this.options.insufficientQuota === true) {
      return this.error(429, {
        message:
          "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type: "insufficient_quota",
        param: null,
        code: "insufficient_quota"
      }, limitHeaders)
    }
    if (now < this.burstUntil) {
      const wait = this.burstUntil - now
      return this.refuse(model, "requests", wait, limitHeaders)
    }
    const fault = this.pickFault()
    if (fault === undefined) return this.withHeaders(reply(), limitHeaders)
    this.faults[fault]++
    switch (fault) {
      case "serverError": {
        const statuses = [500, 502, 503] as const
        const status = statuses[Math.floor(this.faultRandom() * statuses.length)] ?? 500
        const message = status === 500
          ? "The server had an error while processing your request. Sorry about that!"
          : status === 502
          ? "Bad gateway."
          : "The server is overloaded or not ready yet."
        return this.error(status, { message, type: "server_error", param: null, code: null }, limitHeaders)
      }
      case "rateLimit": {
        const [min, max] = this.options.faults?.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS
        const wait = Math.round(min + this.faultRandom() * Math.max(0, max - min))
        if (this.options.faults?.burst === true) this.burstUntil = now + wait
        return this.refuse(model, "requests", wait, limitHeaders)
      }
      case "reset":
        return { _tag: "Reset", delayMs: 0 }
      case "hang":
        return { _tag: "Hang" }
      case "slowBody": {
        const outcome = this.withHeaders(reply(), limitHeaders)
        if (outcome._tag !== "Respond") return outcome
        const total = this.options.faults?.slowBodyMs ?? DEFAULT_SLOW_BODY_MS
        return {
          _tag: "SlowBody",
          headers: outcome.headers,
          body: outcome.body,
          delayMs: outcome.delayMs,
          chunks: SLOW_BODY_CHUNKS,
          chunkDelayMs: total / SLOW_BODY_CHUNKS
        }
      }
      case "malformed": {
        const outcome = this.withHeaders(reply(), limitHeaders)
        if (outcome._tag !== "Respond") return outcome
        const broken = `${outcome.body.slice(0, Math.floor(outcome.body.length / 2))},,"oops": <not json>`
        return { ...outcome, status: 200, body: broken }
      }
      case "truncated": {
        const outcome = this.withHeaders(reply(), limitHeaders)
        if (outcome._tag !== "Respond") return outcome
        return { _tag: "Truncated", headers: outcome.headers, body: outcome.body, delayMs: outcome.delayMs }
      }
    }
  }

  private pickFault(): FaultKind | undefined {
    const faults = this.options.faults
    if (faults === undefined) return undefined
    const draw = this.faultRandom()
    let cumulative = 0
    for (const kind of faultKinds) {
      const share = faults[kind] ?? 0
      if (share <= 0) continue
      cumulative += share
      if (draw < cumulative) return kind
    }
    return undefined
  }

  /** The `x-ratelimit-*` headers of the buckets as they are now (none without limits). */
  private limitHeaders(): Record<string, string> {
    const requests = this.requestBucket
    const tokens = this.tokenBucket
    if (requests === undefined && tokens === undefined) return {}
    return RateLimitHeaders.toHeaders({
      limitRequests: requests?.limit,
      remainingRequests: requests === undefined ? undefined : Math.floor(requests.level),
      resetRequestsMillis: requests?.resetMillis(),
      limitTokens: tokens?.limit,
      remainingTokens: tokens === undefined ? undefined : Math.floor(tokens.level),
      resetTokensMillis: tokens?.resetMillis()
    })
  }

  /** Refills the buckets and returns their headers without taking anything. */
  private peekHeaders(): Record<string, string> {
    if (this.requestBucket === undefined && this.tokenBucket === undefined) return {}
    const now = this.now()
    this.requestBucket?.refill(now)
    this.tokenBucket?.refill(now)
    return this.limitHeaders()
  }

  /** Takes one request and `tokenCost` tokens from the buckets, or throws a 429 when either is short. */
  private takeOrRefuse(model: string, tokenCost: number, now: number): Record<string, string> {
    const requests = this.requestBucket
    const tokens = this.tokenBucket
    if (requests === undefined && tokens === undefined) return {}
    requests?.refill(now)
    tokens?.refill(now)
    const requestWait = requests?.waitFor(1) ?? 0
    const tokenWait = tokens?.waitFor(tokenCost) ?? 0
    if (requestWait === 0 && tokenWait === 0) {
      if (requests !== undefined) requests.level -= 1
      if (tokens !== undefined) tokens.level -= tokenCost
    }
    const headers = this.limitHeaders()
    if (requestWait > 0 || tokenWait > 0) {
      const outcome = requestWait >= tokenWait
        ? this.refuse(model, "requests", requestWait, headers, requests!, 1)
        : this.refuse(model, "tokens", tokenWait, headers, tokens!, tokenCost)
      throw new Refusal(outcome)
    }
    return headers
  }

  private refuse(
    model: string,
    kind: "requests" | "tokens",
    waitMs: number,
    headers: Record<string, string>,
    bucket?: Bucket,
    requested?: number
  ): Outcome {
    const wait = Math.max(1, Math.ceil(waitMs))
    const detail = bucket === undefined
      ? ""
      : `: Limit ${bucket.limit}, Used ${Math.ceil(bucket.limit - bucket.level)}, Requested ${requested ?? 1}`
    const unit = kind === "requests" ? "requests per min (RPM)" : "tokens per min (TPM)"
    // A request larger than the whole bucket can never pass: OpenAI says so in the same 429 shape.
    const tooLarge = bucket !== undefined && (requested ?? 1) > bucket.limit
    return this.error(429, {
      message: `${tooLarge ? "Request too large" : "Rate limit reached"} for ${model} in organization ${ORGANIZATION} on ${unit}${detail}. ${
        tooLarge
          ? "The input or output tokens must be reduced in order to run successfully."
          : `Please try again in ${RateLimitHeaders.formatResetMillis(wait)}.`
      } Visit https://platform.openai.com/account/rate-limits to learn more.`,
      type: kind,
      param: null,
      code: "rate_limit_exceeded"
    }, {
      ...headers,
      "retry-after": String(Math.ceil(wait / 1000)),
      "retry-after-ms": String(wait)
    })
  }

  private chat(plan: ChatPlan): Outcome {
    const digest = createHash("sha256").update(`${plan.model}\u0000${plan.lastUserText}`).digest("hex")
    const snippet = plan.lastUserText.length > 100 ? `${plan.lastUserText.slice(0, 100)}...` : plan.lastUserText
    const choices = []
    let completionTokens = 0
    for (let index = 0; index < plan.n; index++) {
      let content = index === 0
        ? `Echo: ${snippet} (${digest.slice(0, 8)})`
        : `Echo: ${snippet} (${digest.slice(0, 8)}, choice ${index})`
      let finishReason = "stop"
      if (plan.maxTokens !== undefined && estimateTokens(content) > plan.maxTokens) {
        content = content.slice(0, plan.maxTokens * 4)
        finishReason = "length"
      }
      completionTokens += estimateTokens(content)
      choices.push({
        index,
        message: { role: "assistant", content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: finishReason
      })
    }
    const id = `chatcmpl-${digest.slice(8, 32)}`
    return this.json(200, {
      id,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: plan.model,
      choices,
      usage: {
        prompt_tokens: plan.promptTokens,
        completion_tokens: completionTokens,
        total_tokens: plan.promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0
        }
      },
      service_tier: "default",
      system_fingerprint: "fp_fastllm_test"
    }, {}, this.latency(completionTokens))
  }

  private embeddings(plan: EmbeddingPlan): Outcome {
    const dimensions = plan.dimensions ?? this.options.embeddingDimensions ?? 8
    const data = plan.inputs.map((input, index) => {
      const vector = embeddingVector(input, dimensions)
      return {
        object: "embedding",
        index,
        embedding: plan.base64
          ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
          : Array.from(vector)
      }
    })
    return this.json(200, {
      object: "list",
      data,
      model: plan.model,
      usage: { prompt_tokens: plan.promptTokens, total_tokens: plan.promptTokens }
    }, {}, this.latency(0))
  }

  private latency(outputTokens: number): number {
    const latency = this.options.latency
    if (latency === undefined) return 0
    const min = latency.minMs
    const max = latency.maxMs ?? min
    const base = max > min ? min + this.latencyRandom() * (max - min) : min
    return base + (latency.perOutputTokenMs ?? 0) * outputTokens
  }

  private count(status: number): void {
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1
    if (status === 429) this.rateLimited++
  }

  private json(status: number, value: unknown, headers: Record<string, string>, delayMs = 0): Outcome {
    this.count(status)
    this.requestCounter++
    return {
      _tag: "Respond",
      status,
      headers: jsonHeaders({ ...headers, "x-request-id": `req_${this.requestCounter.toString(16)}` }),
      body: JSON.stringify(value),
      delayMs
    }
  }

  private error(status: number, error: ErrorBody, headers: Record<string, string>): Outcome {
    return this.json(status, { error }, headers)
  }

  private withHeaders(outcome: Outcome, headers: Record<string, string>): Outcome {
    return outcome._tag === "Respond" ? { ...outcome, headers: { ...outcome.headers, ...headers } } : outcome
  }
}

/** A rate-limit refusal decided inside {@link Engine.takeOrRefuse}. @internal */
class Refusal extends RequestError {
  constructor(readonly outcome: Outcome) {
    super(429, { message: "", type: "requests", param: null, code: "rate_limit_exceeded" })
  }
}
