import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { IncomingHttpHeaders } from "node:http"
import * as Undici from "undici"

/**
 * A response whose body has been read in full (or failed while being read) before the response is
 * handed out: one callback chain, no Node stream, no per-response fibers.
 *
 * @internal
 */
export class BufferedResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly status: number,
    readonly rawHeaders: IncomingHttpHeaders,
    private readonly body: Buffer | undefined,
    private readonly bodyError: unknown
  ) {
    super()
  }

  private cachedHeaders: Headers.Headers | undefined
  get headers(): Headers.Headers {
    return this.cachedHeaders ??= Headers.fromInput(this.rawHeaders)
  }

  get cookies(): Cookies.Cookies {
    const header = this.rawHeaders["set-cookie"]
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(header)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  private fail(cause: unknown, description?: string): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({
      request: this.request,
      response: this,
      reason: "Decode",
      cause,
      ...(description === undefined ? {} : { description })
    })
  }

  private cachedText: Either.Either<string, HttpClientError.ResponseError> | undefined
  /** The body as text, or the error that cut it off. Synchronous: the body is already here. */
  textEither(): Either.Either<string, HttpClientError.ResponseError> {
    if (this.cachedText !== undefined) return this.cachedText
    if (this.body === undefined) {
      const message = this.bodyError instanceof Error ? this.bodyError.message : String(this.bodyError)
      return this.cachedText = Either.left(this.fail(this.bodyError, `the response body was cut off: ${message}`))
    }
    return this.cachedText = Either.right(this.body.toString("utf8"))
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return this.textEither()
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Either.flatMap(this.textEither(), (text) => {
      try {
        return Either.right(text === "" ? null : JSON.parse(text) as unknown)
      } catch (cause) {
        return Either.left(this.fail(cause))
      }
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Either.map(this.textEither(), (text) => UrlParams.fromInput(new URLSearchParams(text)))
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    if (this.body === undefined) return Either.flatMap(this.textEither(), () => Either.left(this.fail(this.bodyError)))
    const body = this.body
    return Effect.succeed(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer)
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.flatMap(this.arrayBuffer, (buffer) =>
      Effect.tryPromise({
        try: () => {
          const init: Record<string, string> = {}
          const contentType = this.rawHeaders["content-type"]
          if (contentType !== undefined) init["content-type"] = contentType
          return new Response(buffer, { headers: init }).formData()
        },
        catch: (cause) => this.fail(cause)
      }))
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return this.body === undefined
      ? Stream.fromEffect(Effect.flatMap(this.textEither(), () => Effect.fail(this.fail(this.bodyError))))
      : Stream.succeed(this.body)
  }

  toJSON(): unknown {
    return IncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}

const requestBody = (body: HttpBody.HttpBody): string | Uint8Array | null | undefined => {
  switch (body._tag) {
    case "Empty":
      return null
    case "Uint8Array":
      return body.body
    case "Raw":
      return typeof body.body === "string" || body.body instanceof Uint8Array ? body.body : undefined
    case "FormData":
    case "Stream":
      return undefined
  }
}

const cancelled = new Error("request interrupted")

/**
 * The deadline of requests sent by the lean client from this fiber, in milliseconds (0: none).
 * Set with `Effect.locally` around one request. A timer on the exchange enforces it: no fiber
 * fork and no race, which `Effect.timeout` needs (measured at ~40 µs of CPU per request here).
 *
 * @internal
 */
export const currentTimeoutMillis = FiberRef.unsafeMake(0)

/**
 * The cause of a `RequestError` when the deadline of `currentTimeoutMillis` passed.
 *
 * @internal
 */
export class DeadlineExceeded extends Error {
  constructor(readonly millis: number) {
    super(`no complete response within ${millis} ms`)
  }
}

const noHeaders: IncomingHttpHeaders = {}

/**
 * The deadlines of one client's exchanges that have the same timeout, in the order they started,
 * which is the order they expire: one timer, set for the earliest, instead of a `setTimeout` and a
 * `clearTimeout` per exchange. An exchange that ends leaves the list at once (it is its own list
 * node); the timer is re-armed when it fires, and stopped when the list is empty so an idle
 * process can exit. Departure from a timer per exchange (a `Timeout` object and its closure
 * allocated and kept per call in flight): `node --conditions=@fastllm/source --import tsx
 * bench/lib/gcInFlight.ts --base a853231`.
 */
class Deadlines {
  private head: Exchange | undefined = undefined
  private tail: Exchange | undefined = undefined
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** While `fire` expires exchanges (whose callbacks may start new ones): it sets the timer itself. */
  private firing = false

  constructor(readonly millis: number) {}

  add(exchange: Exchange): void {
    exchange.deadlines = this
    exchange.expiresAt = Date.now() + this.millis
    exchange.previous = this.tail
    exchange.next = undefined
    if (this.tail === undefined) this.head = exchange
    else this.tail.next = exchange
    this.tail = exchange
    if (this.timer === undefined && !this.firing) this.timer = setTimeout(this.fire, this.millis)
  }

  remove(exchange: Exchange): void {
    if (exchange.deadlines !== this) return
    exchange.deadlines = undefined
    const { next, previous } = exchange
    if (previous === undefined) this.head = next
    else previous.next = next
    if (next === undefined) this.tail = previous
    else next.previous = previous
    exchange.previous = undefined
    exchange.next = undefined
    if (this.head === undefined && this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  private readonly fire = (): void => {
    this.timer = undefined
    const now = Date.now()
    this.firing = true
    try {
      let head = this.head
      while (head !== undefined && head.expiresAt <= now) {
        this.remove(head)
        head.expire(this.millis)
        head = this.head
      }
    } finally {
      this.firing = false
    }
    const head = this.head
    if (head !== undefined) this.timer = setTimeout(this.fire, Math.max(1, head.expiresAt - now))
  }
}

/**
 * One exchange, as an undici (v7) dispatch handler: the response is buffered and handed to the
 * fiber in one callback. Interruption aborts the request, even while it waits for a connection.
 */
class Exchange implements Undici.Dispatcher.DispatchHandler {
  controller: Undici.Dispatcher.DispatchController | undefined = undefined
  interrupted = false
  status = 0
  headers: IncomingHttpHeaders = noHeaders
  chunks: Array<Buffer> = []
  size = 0
  gotHeaders = false
  done = false
  /** Where the exchange's deadline is kept, and its place there (see {@link Deadlines}). */
  deadlines: Deadlines | undefined = undefined
  expiresAt = 0
  previous: Exchange | undefined = undefined
  next: Exchange | undefined = undefined

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly finish: (outcome: BufferedResponse | HttpClientError.RequestError) => void
  ) {}

  /** Its deadline passed: fails the exchange with `DeadlineExceeded`, unless it is done by then. */
  expire(millis: number): void {
    if (this.done) return
    this.done = true
    this.chunks = []
    const cause = new DeadlineExceeded(millis)
    this.interrupted = true
    if (this.controller !== undefined) this.controller.abort(cause)
    this.finish(new HttpClientError.RequestError({ request: this.request, reason: "Transport", cause, description: cause.message }))
  }

  private settle(): void {
    this.done = true
    this.deadlines?.remove(this)
  }

  onRequestStart(controller: Undici.Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.interrupted) controller.abort(cancelled)
  }

  onResponseStart(
    _controller: Undici.Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders
  ): void {
    if (statusCode < 200) return // 1xx: informational, the real response follows
    this.status = statusCode
    this.headers = headers
    this.gotHeaders = true
  }

  onResponseData(_controller: Undici.Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk)
    this.size += chunk.length
  }

  onResponseEnd(): void {
    if (this.done) return
    this.settle()
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size)
    this.chunks = []
    this.finish(new BufferedResponse(this.request, this.status, this.headers, body, undefined))
  }

  onResponseError(_controller: Undici.Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.done) return
    this.settle()
    this.chunks = []
    if (this.interrupted) return
    this.finish(
      this.gotHeaders
        ? new BufferedResponse(this.request, this.status, this.headers, undefined, error)
        : new HttpClientError.RequestError({ request: this.request, reason: "Transport", cause: error, description: error.message })
    )
  }

  interrupt(): void {
    this.deadlines?.remove(this)
    this.interrupted = true
    if (this.controller !== undefined && !this.done) this.controller.abort(cancelled)
  }
}

const originAndPath = (url: string): { readonly origin: string; readonly path: string } | undefined => {
  // fast path for the common absolute http(s) URL without query parameters or hash
  const schemeEnd = url.indexOf("://")
  if (schemeEnd === -1) return undefined
  const pathStart = url.indexOf("/", schemeEnd + 3)
  return pathStart === -1
    ? { origin: url, path: "/" }
    : { origin: url.slice(0, pathStart), path: url.slice(pathStart) }
}

/**
 * One request over a lean client's dispatcher, with its deadline in milliseconds (0: none).
 *
 * @internal
 */
export type Send = (
  request: HttpClientRequest.HttpClientRequest,
  timeoutMillis: number
) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>

const leanClients = new WeakMap<HttpClient.HttpClient, Send>()

/** Whether a client is one of ours (it makes no spans, so there is nothing to turn off). @internal */
export const isLeanClient = (client: HttpClient.HttpClient): boolean => leanClients.has(client)

/**
 * A lean client's own send, which takes the deadline as an argument: the provider calls it
 * directly instead of `execute` inside `Effect.locally(currentTimeoutMillis)` (an
 * acquire-use-release and two copies of the fiber's FiberRefs per request, plus the client's
 * `execute` wrappers: `npx tsx bench/lib/libSteps.ts --base e5531d1 --only http`).
 *
 * @internal
 */
export const leanSend = (client: HttpClient.HttpClient): Send | undefined => leanClients.get(client)

/** @internal */
export const make = (dispatcher: Undici.Dispatcher): HttpClient.HttpClient => {
  const dispatch = makeDispatch(dispatcher)
  const send = makeSend(dispatch)
  const client = HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (effect) =>
      Effect.flatMap(effect, (request) =>
        Effect.withFiberRuntime((fiber) => send(request, fiber.getFiberRef(currentTimeoutMillis)))),
    (request) => Effect.succeed(request)
  )
  leanClients.set(client, send)
  leanDispatches.set(client, dispatch)
  return client
}

/**
 * Where a request goes and how, computed once per URL (a provider's endpoint) instead of per call.
 *
 * @internal
 */
export interface Target {
  readonly origin: string
  readonly path: string
  readonly method: HttpClientRequest.HttpClientRequest["method"]
  readonly headers: Headers.Headers
  /** The request without its body, for the errors and responses of exchanges sent to this target. */
  readonly request: HttpClientRequest.HttpClientRequest
}

/** The target of `request` (its body is not looked at), or the error that it cannot be sent. @internal */
export const targetOf = (request: HttpClientRequest.HttpClientRequest): Either.Either<Target, HttpClientError.RequestError> => {
  let at: { readonly origin: string; readonly path: string } | undefined
  if (Option.isNone(request.hash) && request.urlParams.length === 0) at = originAndPath(request.url)
  if (at === undefined) {
    const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
    if (Either.isLeft(url)) return Either.left(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
    at = { origin: url.right.origin, path: url.right.pathname + url.right.search + url.right.hash }
  }
  return Either.right({ origin: at.origin, path: at.path, method: request.method, headers: request.headers, request })
}

/**
 * One exchange as a callback: sends `body` to `target`, calls `done` once with the buffered
 * response or the error, unless the returned function (abort) is called first. `timeoutMillis`:
 * the whole exchange's deadline (0: none).
 *
 * @internal
 */
export type Dispatch = (
  target: Target,
  body: string | Uint8Array | null,
  timeoutMillis: number,
  done: (outcome: BufferedResponse | HttpClientError.RequestError) => void
) => () => void

const leanDispatches = new WeakMap<HttpClient.HttpClient, Dispatch>()

/**
 * A lean client's exchange as a callback, for a provider's `unsafeCall` (the RequestManager runs
 * an attempt as one suspension: `node --conditions=@fastllm/source --import tsx
 * bench/lib/gcInFlight.ts --base a853231`).
 *
 * @internal
 */
export const leanDispatch = (client: HttpClient.HttpClient): Dispatch | undefined => leanDispatches.get(client)

const makeDispatch = (dispatcher: Undici.Dispatcher): Dispatch => {
  // one list per timeout in use (a provider's timeout, a manager's): a handful at most
  const deadlines = new Map<number, Deadlines>()
  const deadlinesOf = (millis: number): Deadlines => {
    let found = deadlines.get(millis)
    if (found === undefined) {
      found = new Deadlines(millis)
      if (deadlines.size < 64) deadlines.set(millis, found) // beyond that, one list per exchange
    }
    return found
  }
  return (target, body, timeoutMillis, done) => {
    const exchange = new Exchange(target.request, done)
    if (timeoutMillis > 0) deadlinesOf(timeoutMillis).add(exchange)
    try {
      dispatcher.dispatch({
        origin: target.origin,
        path: target.path,
        method: target.method,
        headers: target.headers,
        body,
        // the whole-exchange deadline is `timeoutMillis` (see Deadlines)
        headersTimeout: 0,
        bodyTimeout: 0
      }, exchange)
    } catch (cause) {
      exchange.onResponseError(undefined, cause instanceof Error ? cause : new Error(String(cause)))
    }
    return () => exchange.interrupt()
  }
}

const makeSend = (dispatch: Dispatch): Send => (request, timeoutMillis) => {
  const target = targetOf(request)
  if (Either.isLeft(target)) return Effect.fail(target.left)
  const body = requestBody(request.body)
  if (body === undefined) {
    return Effect.fail(
      new HttpClientError.RequestError({
        request,
        reason: "Encode",
        description: `the lean undici client sends string and byte bodies only, not ${request.body._tag}`
      })
    )
  }
  // the exchange's request and responses carry the request with its body
  const withBody: Target = { ...target.right, request }
  return Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
    const abort = dispatch(withBody, body, timeoutMillis, (outcome) =>
      resume(outcome instanceof BufferedResponse ? Effect.succeed(outcome) : Effect.fail(outcome)))
    return Effect.sync(abort)
  })
}

/** @internal */
export const makeAgent = (options: {
  readonly connections?: number | undefined
  readonly keepAliveTimeout?: number | undefined
}): Effect.Effect<Undici.Agent, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Undici.Agent(agentOptions(options))),
    (agent) => Effect.promise(() => agent.destroy())
  )

const agentOptions = (options: {
  readonly connections?: number | undefined
  readonly keepAliveTimeout?: number | undefined
}): Undici.Agent.Options => ({
  connections: options.connections ?? null,
  ...(options.keepAliveTimeout === undefined ? {} : { keepAliveTimeout: options.keepAliveTimeout }),
  pipelining: 1
})

/** @internal */
export type Proxy = "environment" | "none" | {
  readonly httpProxy?: string | undefined
  readonly httpsProxy?: string | undefined
  readonly noProxy?: string | undefined
}

const proxyVariables = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"]

/** Whether the environment names a proxy (undici's `EnvHttpProxyAgent` reads the same variables). @internal */
export const environmentHasProxy = (env: NodeJS.ProcessEnv = process.env): boolean =>
  proxyVariables.some((name) => (env[name] ?? "").trim() !== "")

/** @internal */
export const makeDispatcher = (options: {
  readonly connections?: number | undefined
  readonly keepAliveTimeout?: number | undefined
  readonly proxy?: Proxy | undefined
}): Effect.Effect<Undici.Dispatcher, never, Scope.Scope> => {
  const proxy = options.proxy ?? "environment"
  const useProxy = proxy === "environment" ? environmentHasProxy() : proxy !== "none"
  if (!useProxy) return makeAgent(options)
  const explicit = typeof proxy === "object"
    ? {
      // an explicit setting never falls back to the environment: "" means none
      httpProxy: proxy.httpProxy ?? "",
      httpsProxy: proxy.httpsProxy ?? proxy.httpProxy ?? "",
      noProxy: proxy.noProxy ?? ""
    }
    : {}
  return Effect.acquireRelease(
    Effect.sync(() => new Undici.EnvHttpProxyAgent({ ...agentOptions(options), ...explicit })),
    (agent) => Effect.promise(() => agent.destroy())
  )
}
