import * as Headers from "@effect/platform/Headers"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { type ApiRequest, ChatResponse, Embedding, LLMError, Provider, RateLimitHeaders } from "@fastllm/core"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as OpenAiProvider from "../OpenAiProvider.js"
import { BufferedResponse, DeadlineExceeded, isLeanClient, leanDispatch, leanSend, type Target, targetOf } from "./undiciHttpClient.js"

/** @internal */
export const defaultBaseUrl = "https://api.openai.com/v1"

type Decode<A> = (input: unknown) => Either.Either<A, ParseResult.ParseError>

/** OpenAI's error body, read leniently: compatible servers use `{ error: "text" }` or `{ detail }`. */
const ErrorBody = Schema.Struct({
  error: Schema.optional(Schema.Union(
    Schema.String,
    Schema.Struct({
      message: Schema.optional(Schema.NullOr(Schema.String)),
      type: Schema.optional(Schema.NullOr(Schema.String)),
      code: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Number))),
      param: Schema.optional(Schema.NullOr(Schema.String))
    })
  )),
  detail: Schema.optional(Schema.Unknown),
  message: Schema.optional(Schema.String)
})
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

interface ErrorFields {
  readonly message: string
  readonly type?: string
  readonly code?: string
  readonly param?: string
}

const maxDetail = 500
const clip = (text: string): string => text.length > maxDetail ? `${text.slice(0, maxDetail)}…` : text

const parseJson = (text: string): Option.Option<unknown> => {
  try {
    return Option.some(JSON.parse(text) as unknown)
  } catch {
    return Option.none()
  }
}

/** @internal */
export const errorFields = (text: string): ErrorFields => {
  const body = Option.flatMap(parseJson(text), decodeErrorBody)
  if (Option.isNone(body)) return { message: clip(text.trim()) }
  const { detail, error, message } = body.value
  if (typeof error === "string") return { message: clip(error) }
  if (error !== undefined) {
    const fields: { message: string; type?: string; code?: string; param?: string } = {
      message: clip(error.message ?? message ?? text.trim())
    }
    if (typeof error.type === "string") fields.type = error.type
    if (error.code !== undefined && error.code !== null) fields.code = String(error.code)
    if (typeof error.param === "string") fields.param = error.param
    return fields
  }
  if (typeof detail === "string") return { message: clip(detail) }
  if (detail !== undefined) return { message: clip(JSON.stringify(detail)) }
  return { message: clip(message ?? text.trim()) }
}

const tokensLimit = /tokens? per min|\(TPM\)|tokens per day|\(TPD\)/i
const limitUsed = /Limit:? (\d+), Used:? (\d+)/i

/** What is left of the limit that refused a 429: its remaining header, else `Limit − Used` from the message. */
const remainingOf = (
  kind: "requests" | "tokens",
  lookup: RateLimitHeaders.HeaderLookup,
  message: string
): number | undefined => {
  const info = RateLimitHeaders.parse(lookup)
  const header = kind === "requests" ? info?.remainingRequests : info?.remainingTokens
  if (header !== undefined) return header
  const match = limitUsed.exec(message)
  return match === null ? undefined : Math.max(0, Number(match[1]) - Number(match[2]))
}

const describeCause = (cause: unknown): string => {
  if (cause instanceof AggregateError && cause.errors.length > 0) return describeCause(cause.errors[0])
  if (cause instanceof Error) {
    const code = "code" in cause && typeof cause.code === "string" ? cause.code : undefined
    const message = cause.message === "" ? cause.name : cause.message
    const inner = cause.cause !== undefined && cause.cause !== cause ? describeCause(cause.cause) : undefined
    const text = code !== undefined && !message.includes(code) ? `${code}: ${message}` : message
    return inner !== undefined && inner !== text ? `${text} (${inner})` : text
  }
  return String(cause)
}

/** @internal */
export const redactedNonEmpty = (redacted: Redacted.Redacted): boolean => Redacted.value(redacted).trim() !== ""

/** @internal */
export const missingKey: ConfigError.ConfigError = ConfigError.MissingData(
  ["OPENAI_API_KEY"],
  "OPENAI_API_KEY is required for api.openai.com (set OPENAI_BASE_URL to use a server that needs no key)"
)

/** A decoded reply as the `ApiResponse` of its kind (the lean transport's callbacks). */
const tagChat = (response: ChatResponse.ChatResponse): ApiRequest.ApiResponse => ({ _tag: "Chat", response })
const tagEmbedding = (response: Embedding.EmbeddingResponse): ApiRequest.ApiResponse => ({ _tag: "Embedding", response })

/** @internal */
export const providerName = (baseUrl: string): string => {
  if (baseUrl.replace(/\/+$/, "") === defaultBaseUrl) return "openai"
  try {
    const url = new URL(baseUrl)
    return `openai-compatible:${url.host}${url.pathname.replace(/\/+$/, "")}`
  } catch {
    return "openai-compatible"
  }
}

/** @internal */
export const make = (
  options: OpenAiProvider.Options
): Effect.Effect<Provider.Provider.Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (httpClient) => makeWith(httpClient, options))

/** @internal */
export const makeWith = (httpClient: HttpClient.HttpClient, options: OpenAiProvider.Options): Provider.Provider.Service => {
  const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
  const apiKey = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
  const azure = options.azure
  const timeout = options.timeout === undefined ? undefined : Duration.decode(options.timeout)
  const lean = isLeanClient(httpClient)
  const client = options.spans === true || lean
    ? httpClient
    : HttpClient.withTracerDisabledWhen(httpClient, () => true)

  const headerInput: Record<string, string> = {}
  const secrets: Array<string> = apiKey === undefined || apiKey === "" ? [] : [apiKey]
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const text = typeof value === "string" ? value : Redacted.value(value)
    if (typeof value !== "string" && text !== "") secrets.push(text)
    headerInput[name.toLowerCase()] = text
  }
  headerInput["content-type"] = "application/json"
  headerInput["accept"] ??= "application/json"
  if (apiKey !== undefined && apiKey !== "") {
    // Azure OpenAI takes the key in its own header, OpenAI (and compatible servers) as a bearer token
    if (azure === undefined) headerInput["authorization"] = `Bearer ${apiKey}`
    else headerInput["api-key"] = apiKey
  }
  if (options.organization !== undefined) headerInput["openai-organization"] = options.organization
  if (options.project !== undefined) headerInput["openai-project"] = options.project
  const headers = Headers.fromInput(headerInput)

  /** Keeps the key (and every Redacted header value) out of each text that leaves the provider. */
  const scrub = secrets.length === 0
    ? (text: string) => text
    : (text: string) => secrets.reduce((acc, secret) => acc.includes(secret) ? acc.split(secret).join("[REDACTED]") : acc, text)

  const chatRequest = HttpClientRequest.post(`${baseUrl}/chat/completions`, { headers })
  const embeddingsRequest = HttpClientRequest.post(`${baseUrl}/embeddings`, { headers })
  /** Azure's deployment paths: `/deployments/{model}/...?api-version=...`, as the openai SDK builds them. */
  const requestFor: (base: HttpClientRequest.HttpClientRequest, path: string, model: string) => HttpClientRequest.HttpClientRequest =
    azure?.apiVersion === undefined
      ? (base) => base
      : (() => {
        const query = `?api-version=${encodeURIComponent(azure.apiVersion)}`
        const named = baseUrl.includes("/deployments/")
        return (base, path, model) =>
          HttpClientRequest.setUrl(
            base,
            named
              ? `${baseUrl}${path}${query}`
              : `${baseUrl}/deployments/${encodeURIComponent(azure.deployment ?? model)}${path}${query}`
          )
      })()

  const fromHttpClientError = (error: HttpClientError.HttpClientError): LLMError.ProviderError => {
    if (error._tag === "RequestError" && error.cause instanceof DeadlineExceeded) {
      return new LLMError.TimeoutError({ timeout: Duration.millis(error.cause.millis) })
    }
    if (error._tag === "RequestError" && (error.reason === "InvalidUrl" || error.reason === "Encode")) {
      return new LLMError.InvalidRequestError({
        reason: scrub(`cannot send to ${error.request.url}: ${error.description ?? describeCause(error.cause)}`)
      })
    }
    if (error._tag === "ResponseError") {
      // the status line and headers arrived, then the body was cut off: a truncated response
      return new LLMError.DecodeError({
        reason: scrub(
          `the response body (status ${error.response.status}) was cut off: ${describeCause(error.cause ?? error.description ?? error.reason)}`
        ),
        retryable: true
      })
    }
    return new LLMError.TransportError({
      reason: scrub(`connection failed: ${describeCause(error.cause ?? error.description ?? error.reason)}`)
    })
  }

  const headerLookup = (response: HttpClientResponse.HttpClientResponse): RateLimitHeaders.HeaderLookup =>
    response instanceof BufferedResponse ? response.rawHeaders : response.headers

  const fromErrorStatus = (status: number, lookup: RateLimitHeaders.HeaderLookup, text: string): LLMError.ProviderError => {
    const fields = errorFields(scrub(text))
    if (status === 429) {
      if (fields.code === "insufficient_quota" || fields.type === "insufficient_quota") {
        return new LLMError.RateLimitError({ kind: "quota", detail: fields.message })
      }
      const kind = fields.type === "tokens" || tokensLimit.test(fields.message) ? "tokens" : "requests"
      const retryAfter = RateLimitHeaders.retryAfter(lookup)
      const remaining = remainingOf(kind, lookup, fields.message)
      return new LLMError.RateLimitError({
        kind,
        detail: fields.message,
        ...(retryAfter === undefined ? {} : { retryAfter }),
        ...(remaining === undefined ? {} : { remaining })
      })
    }
    return new LLMError.ApiError({
      status,
      ...(fields.type === undefined ? {} : { type: fields.type }),
      ...(fields.code === undefined ? {} : { code: fields.code }),
      ...(fields.param === undefined ? {} : { param: fields.param }),
      detail: fields.message === "" ? `HTTP ${status}` : fields.message,
      retryable: LLMError.isRetryableStatus(status)
    })
  }

  const toReply = <A>(
    response: HttpClientResponse.HttpClientResponse,
    text: string,
    decode: Decode<A>
  ): Either.Either<Provider.Reply<A>, LLMError.ProviderError> => {
    const status = response.status
    const lookup = headerLookup(response)
    if (status < 200 || status >= 300) return Either.left(fromErrorStatus(status, lookup, text))
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (cause) {
      return Either.left(
        new LLMError.DecodeError({
          reason: scrub(
            `the body is not valid JSON, probably truncated or garbled (${describeCause(cause)}): ${clip(text)}`
          ),
          retryable: true
        })
      )
    }
    const decoded = decode(json)
    if (Either.isRight(decoded)) {
      return Either.right({ response: decoded.right, rateLimit: RateLimitHeaders.parse(lookup) })
    }
    // some gateways answer 200 with an error object
    if (typeof json === "object" && json !== null && "error" in json && !("choices" in json) && !("data" in json)) {
      const fields = errorFields(text)
      const code = Number(fields.code)
      const errorStatus = Number.isInteger(code) && code >= 400 && code < 600 ? code : 502
      return Either.left(fromErrorStatus(errorStatus, lookup, text))
    }
    return Either.left(
      new LLMError.DecodeError({ reason: scrub(`the JSON is not a valid response: ${decoded.left.message}`), retryable: false })
    )
  }

  /** The attempt's deadline: the shorter of the provider's own timeout and the caller's. */
  const deadlineOf = (callOptions: Provider.CallOptions | undefined): Duration.Duration | undefined => {
    const fromCall = callOptions?.timeout
    if (fromCall === undefined || !Duration.isFinite(fromCall)) return timeout
    return timeout === undefined ? fromCall : Duration.min(timeout, fromCall)
  }

  const direct = leanSend(httpClient)

  const send = <A>(
    base: HttpClientRequest.HttpClientRequest,
    body: string,
    decode: Decode<A>,
    callOptions: Provider.CallOptions | undefined
  ): Effect.Effect<Provider.Reply<A>, LLMError.ProviderError> => {
    const request = HttpClientRequest.setBody(base, HttpBody.raw(body))
    const deadline = deadlineOf(callOptions)
    const finite = deadline !== undefined && Duration.isFinite(deadline)
    // the lean transport: its own send, with the deadline as a timer on the exchange (no fiber
    // fork, no FiberRef); any other client: `execute`, and `timeoutFail` for the deadline
    const response = direct !== undefined
      ? direct(request, finite ? Math.max(1, Math.ceil(Duration.toMillis(deadline))) : 0)
      : client.execute(request)
    const effect = Effect.matchEffect(response, {
      onFailure: (error) => Effect.fail(fromHttpClientError(error)),
      onSuccess: (response) => {
        if (response instanceof BufferedResponse) {
          // the lean transport's body is already here: no effect to run for it
          const text = response.textEither()
          return Either.isRight(text)
            ? toReply(response, text.right, decode)
            : Either.left(fromHttpClientError(text.left))
        }
        return Effect.matchEffect(response.text, {
          onFailure: (error) => Effect.fail(fromHttpClientError(error)),
          onSuccess: (text) => toReply(response, text, decode)
        })
      }
    })
    if (!finite || direct !== undefined) return effect
    return Effect.timeoutFail(effect, { duration: deadline, onTimeout: () => new LLMError.TimeoutError({ timeout: deadline }) })
  }

  // the guarded decode: a valid reply is not copied (`npx tsx bench/lib/responseDecode.ts`)
  const decodeChat: Decode<ChatResponse.ChatResponse> = ChatResponse.decodeUnknownEither
  const decodeEmbeddings: Decode<Embedding.EmbeddingResponse> = Schema.decodeUnknownEither(Embedding.EmbeddingResponse)

  const dispatch = leanDispatch(httpClient)
  /** An endpoint's target, computed once (per model for Azure's deployment paths). */
  const targetFor = (
    base: HttpClientRequest.HttpClientRequest,
    path: string
  ): (model: string) => Either.Either<Target, HttpClientError.RequestError> => {
    if (azure?.apiVersion === undefined) {
      const fixed = targetOf(base)
      return () => fixed
    }
    return (model) => targetOf(requestFor(base, path, model))
  }
  const chatTarget = targetFor(chatRequest, "/chat/completions")
  const embeddingsTarget = targetFor(embeddingsRequest, "/embeddings")
  // the RequestManager passes the same options object to every call: its deadline is worked out once
  let lastOptions: Provider.CallOptions | undefined
  let lastMillis = 0
  const millisOf = (callOptions: Provider.CallOptions | undefined): number => {
    if (callOptions === lastOptions && callOptions !== undefined) return lastMillis
    const deadline = deadlineOf(callOptions)
    lastOptions = callOptions
    return lastMillis = deadline !== undefined && Duration.isFinite(deadline) ? Math.max(1, Math.ceil(Duration.toMillis(deadline))) : 0
  }
  const replyOf = <A>(
    outcome: BufferedResponse | HttpClientError.RequestError,
    decode: Decode<A>
  ): Either.Either<Provider.Reply<A>, LLMError.ProviderError> => {
    if (!(outcome instanceof BufferedResponse)) return Either.left(fromHttpClientError(outcome))
    const text = outcome.textEither()
    return Either.isRight(text) ? toReply(outcome, text.right, decode) : Either.left(fromHttpClientError(text.left))
  }
  type Done = (outcome: Either.Either<Provider.Reply<ApiRequest.ApiResponse>, LLMError.ProviderError>) => void
  /** One exchange with `target`: the reply decoded with `decode`, tagged with `tag`, handed to `done`. */
  const exchange = <A>(
    send: NonNullable<typeof dispatch>,
    target: Either.Either<Target, HttpClientError.RequestError>,
    body: unknown,
    millis: number,
    decode: Decode<A>,
    tag: (response: A) => ApiRequest.ApiResponse,
    done: Done
  ): () => void => {
    if (Either.isLeft(target)) {
      done(Either.left(fromHttpClientError(target.left)))
      return () => {}
    }
    return send(target.right, JSON.stringify(body), millis, (outcome) => {
      const reply = replyOf(outcome, decode)
      done(
        Either.isLeft(reply)
          ? Either.left(reply.left)
          : Either.right({ response: tag(reply.right.response), rateLimit: reply.right.rateLimit })
      )
    })
  }
  /**
   * `chat` / `embed` over the lean transport as callbacks (`Provider.withUnsafeCall`): the
   * request's target built once per endpoint, the reply decoded and tagged in the exchange's
   * callback, no effect per call (`node --conditions=@fastllm/source --import tsx
   * bench/lib/gcInFlight.ts --base a853231`).
   */
  const unsafeCall: Provider.UnsafeCall | undefined = dispatch === undefined ? undefined : (request, callOptions, done) =>
    request._tag === "Chat"
      ? exchange(dispatch, chatTarget(request.request.model), request.request, millisOf(callOptions), decodeChat, tagChat, done)
      : exchange(
        dispatch,
        embeddingsTarget(request.request.model),
        request.request,
        millisOf(callOptions),
        decodeEmbeddings,
        tagEmbedding,
        done
      )

  const service: Provider.Provider.Service = {
    name: options.name ?? providerName(baseUrl),
    chat: (request, callOptions) =>
      send(requestFor(chatRequest, "/chat/completions", request.model), JSON.stringify(request), decodeChat, callOptions),
    embed: (request, callOptions) =>
      send(requestFor(embeddingsRequest, "/embeddings", request.model), JSON.stringify(request), decodeEmbeddings, callOptions),
    // it honours `CallOptions.timeout` on every transport, so the manager need not wrap it again
    enforcesTimeout: true
  }
  return unsafeCall === undefined ? service : Provider.withUnsafeCall(service, unsafeCall)
}
