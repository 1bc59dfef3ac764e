/**
 * One line of a JSONL batch, in and out: OpenAI Batch API input lines (or bare request bodies)
 * parsed into what the RequestManager runs, and results turned into OpenAI Batch output lines.
 *
 * @since 0.1.0
 */
import { ApiRequest, LLMError } from "@fastllm/core"
import type { RequestManager } from "@fastllm/core"
import * as Either from "effect/Either"
import type { ParseError } from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * An OpenAI Batch API input line: `{custom_id, method, url, body}`.
 *
 * @since 0.1.0
 * @category models
 */
export const BatchInputLine = Schema.Struct({
  custom_id: Schema.String,
  method: Schema.optional(Schema.String),
  url: Schema.String,
  body: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface BatchInputLine extends Schema.Schema.Type<typeof BatchInputLine> {}

/**
 * An OpenAI Batch API output line. `response` holds the HTTP answer (200 with the body, or the
 * API's error status with `{error}`); `error` holds failures that never got an HTTP answer.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOutputLine {
  readonly id: string
  readonly custom_id: string
  readonly response: {
    readonly status_code: number
    readonly request_id: string
    readonly body: unknown
  } | null
  readonly error: { readonly code: string; readonly message: string } | null
}

/**
 * A parsed input line: a request for the RequestManager (tagged by the line's url, or a bare body),
 * or a line that is not a request at all (bad JSON, bad envelope), with its error.
 *
 * @since 0.1.0
 * @category models
 */
export type ParsedLine =
  | {
    readonly _tag: "Request"
    /** 1-based line number in the file. */
    readonly line: number
    readonly customId: string
    /** True for Batch API envelopes: schema error paths are then reported under `body.`. */
    readonly envelope: boolean
    /** What goes to `RequestManager.stream`. */
    readonly input: unknown
  }
  | {
    readonly _tag: "Invalid"
    readonly line: number
    readonly customId: string
    readonly envelope: boolean
    readonly error: LLMError.InvalidRequestError
  }

/**
 * A line whose bytes are not valid UTF-8: an `Invalid` line (never sent), with the custom_id read
 * from a lossy decoding when there is one, so the output still says which request it was.
 *
 * @since 0.1.0
 * @category parsing
 */
export const invalidUtf8 = (lossyText: string, line: number): ParsedLine => {
  const parsed = parse(lossyText, line)
  return {
    _tag: "Invalid",
    line,
    customId: parsed.customId,
    envelope: parsed.envelope,
    error: new LLMError.InvalidRequestError({
      reason: `line ${line} is not valid UTF-8 (it would be sent with replacement characters; fix the file's encoding)`
    })
  }
}

/**
 * Options of {@link parse}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ParseOptions {
  /** Replaces every request's `model`. */
  readonly model?: string | undefined
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const schemaDecodeEnvelope = Schema.decodeUnknownEither(BatchInputLine)

/**
 * `Schema.decodeUnknownEither(BatchInputLine)`, with the envelopes it accepts as they are checked by
 * hand first (string `custom_id` and `url`, an object `body`, `method` absent or a string):
 * `parse` of a Batch API line 2.79 → 2.06 µs, against 0.82 µs for its `JSON.parse` alone
 * (`npx tsx bench/lib/cliLine.ts`, "BatchLine.parse" against "JSON.parse alone"). What the hand
 * check does not accept goes to the Schema, which says what is wrong; a body with its own
 * `__proto__` key too (the Schema's copy of the record drops it).
 */
const decodeEnvelope = (json: Readonly<Record<string, unknown>>): Either.Either<BatchInputLine, ParseError> => {
  const { body, custom_id, method, url } = json
  if (
    typeof custom_id === "string" && typeof url === "string" && isRecord(body) &&
    (method === undefined || typeof method === "string") && !Object.prototype.hasOwnProperty.call(body, "__proto__")
  ) {
    return Either.right(method === undefined ? { custom_id, url, body } : { custom_id, method, url, body })
  }
  return schemaDecodeEnvelope(json)
}

/**
 * The kind of request an endpoint takes: `/v1/chat/completions` → chat, `/v1/embeddings` →
 * embeddings (the `/v1` prefix and a query string are optional), anything else undefined.
 *
 * @since 0.1.0
 * @category parsing
 */
export const kindOfUrl = (url: string): ApiRequest.Kind | undefined => {
  const path = (url.split("?")[0] ?? "").replace(/\/+$/, "").replace(/^\/?(v1\/)?/, "/")
  return path === "/chat/completions" ? "chat" : path === "/embeddings" ? "embedding" : undefined
}

const withModel = (body: Readonly<Record<string, unknown>>, model: string | undefined) =>
  model === undefined ? body : { ...body, model }

/**
 * Parses one line of text (its 1-based `line` number names it when it has no `custom_id`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string, line: number, options: ParseOptions = {}): ParsedLine => {
  const fallbackId = String(line)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e)
    return {
      _tag: "Invalid",
      line,
      customId: fallbackId,
      envelope: false,
      error: new LLMError.InvalidRequestError({ reason: `line ${line} is not valid JSON (${reason})` })
    }
  }
  const invalid = (customId: string, envelope: boolean, reason: string, path?: string): ParsedLine => ({
    _tag: "Invalid",
    line,
    customId,
    envelope,
    error: new LLMError.InvalidRequestError(path === undefined ? { reason } : { reason, path })
  })
  if (!isRecord(json)) return invalid(fallbackId, false, "a line must be a JSON object")
  const isEnvelope = "custom_id" in json || ("url" in json && "body" in json)
  if (!isEnvelope) {
    return { _tag: "Request", line, customId: fallbackId, envelope: false, input: withModel(json, options.model) }
  }
  const customId = typeof json.custom_id === "string" ? json.custom_id : fallbackId
  const decoded = decodeEnvelope(json)
  if (Either.isLeft(decoded)) {
    const error = ApiRequest.invalidRequestFromParseError(decoded.left)
    return { _tag: "Invalid", line, customId, envelope: true, error }
  }
  const envelope = decoded.right
  if (envelope.method !== undefined && envelope.method.toUpperCase() !== "POST") {
    return invalid(customId, true, `method must be POST, got ${envelope.method}`, "method")
  }
  const kind = kindOfUrl(envelope.url)
  if (kind === undefined) {
    return invalid(
      customId,
      true,
      `unsupported url ${JSON.stringify(envelope.url)}: fastllm runs /v1/chat/completions and /v1/embeddings`,
      "url"
    )
  }
  return {
    _tag: "Request",
    line,
    customId,
    envelope: true,
    input: { _tag: kind === "chat" ? "Chat" : "Embedding", request: withModel(envelope.body, options.model) }
  }
}

/**
 * The Batch output `error.code` of an error that got no HTTP answer.
 *
 * @since 0.1.0
 * @category formatting
 */
export const errorCode = (error: LLMError.ProviderError): string => {
  switch (error._tag) {
    case "InvalidRequestError":
      return "invalid_request"
    case "ApiError":
      return error.code ?? error.type ?? `http_${error.status}`
    case "RateLimitError":
      return error.kind === "quota" ? "insufficient_quota" : "rate_limit_exceeded"
    case "TimeoutError":
      return "timeout"
    case "TransportError":
      return "connection_error"
    case "DecodeError":
      return "invalid_response"
    case "BudgetExceededError":
      return "budget_exceeded"
  }
}

/**
 * The response as the output line's body. ChatResponse and EmbeddingResponse have no
 * transformations (their encoded form is their decoded form, unknown fields kept), so the value is
 * written as it is: `Schema.encodeEither` here returned an equal copy (or, failing, the value itself)
 * for ~10 µs a line (`npx tsx bench/lib/responseDecode.ts`, row "encode response").
 */
const responseBody = (result: RequestManager.Success): unknown => result.response

const underBody = (error: LLMError.ProviderError): LLMError.ProviderError =>
  error._tag === "InvalidRequestError" && error.path !== undefined
    ? new LLMError.InvalidRequestError({ reason: error.reason, path: `body.${error.path}` })
    : error

/**
 * The Batch output line for a parsed line and its result. The `id` is `batch_req_<line>`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const toOutput = (parsed: ParsedLine, result: RequestManager.ItemResult): BatchOutputLine => {
  const id = `batch_req_${parsed.line}`
  const requestId = `req_${parsed.line}`
  if (parsed._tag === "Invalid") {
    return {
      id,
      custom_id: parsed.customId,
      response: null,
      error: { code: errorCode(parsed.error), message: parsed.error.message }
    }
  }
  if (result._tag === "Success") {
    return {
      id,
      custom_id: parsed.customId,
      response: { status_code: 200, request_id: requestId, body: responseBody(result) },
      error: null
    }
  }
  const error = parsed.envelope ? underBody(result.error) : result.error
  if (error._tag === "ApiError") {
    const apiError: Record<string, string | null> = {
      message: error.detail,
      type: error.type ?? null,
      param: error.param ?? null,
      code: error.code ?? null
    }
    return {
      id,
      custom_id: parsed.customId,
      response: { status_code: error.status, request_id: requestId, body: { error: apiError } },
      error: null
    }
  }
  return { id, custom_id: parsed.customId, response: null, error: { code: errorCode(error), message: error.message } }
}

/**
 * Whether an output line reports a failure.
 *
 * @since 0.1.0
 * @category formatting
 */
export const isFailure = (line: BatchOutputLine): boolean =>
  line.error !== null || (line.response !== null && line.response.status_code !== 200)

/**
 * The API path a request line goes to: `/embeddings` for an embedding request, else
 * `/chat/completions`.
 *
 * @since 0.2.0
 * @category accessors
 */
export const pathOf = (parsed: Extract<ParsedLine, { readonly _tag: "Request" }>): string => {
  const input = parsed.input
  if (!isRecord(input)) return "/chat/completions"
  const body = isRecord(input.request) ? input.request : input
  const embedding = input._tag === "Embedding" || (input._tag === undefined && "input" in body && !("messages" in body))
  return embedding ? "/embeddings" : "/chat/completions"
}
