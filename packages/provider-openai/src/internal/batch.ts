import * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { ApiRequest, BatchExecutor, ChatResponse, Embedding, LLMError, RateLimitHeaders } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import type * as OpenAiBatch from "../OpenAiBatch.js"
import { defaultBaseUrl, errorFields, providerName } from "./provider.js"

const Nullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** OpenAI's Batch object (only what the executor reads; the rest passes). */
const BatchObject = Schema.Struct({
  id: Schema.String,
  status: BatchExecutor.Status,
  endpoint: Schema.String,
  input_file_id: Schema.String,
  output_file_id: Nullable(Schema.String),
  error_file_id: Nullable(Schema.String),
  created_at: Schema.Number,
  request_counts: Nullable(Schema.Struct({ total: Schema.Number, completed: Schema.Number, failed: Schema.Number })),
  errors: Nullable(Schema.Struct({
    data: Nullable(Schema.Array(Schema.Struct({
      code: Nullable(Schema.String),
      message: Nullable(Schema.String),
      line: Nullable(Schema.Number)
    })))
  })),
  metadata: Nullable(Schema.Record({ key: Schema.String, value: Schema.String }))
})
const decodeBatch = Schema.decodeUnknownEither(BatchObject)
const decodeBatchList = Schema.decodeUnknownEither(Schema.Struct({ data: Schema.Array(Schema.Unknown) }))
const decodeFile = Schema.decodeUnknownEither(Schema.Struct({ id: Schema.String }))

/** One line of an output or error file. */
const OutputLine = Schema.Struct({
  custom_id: Schema.String,
  response: Nullable(Schema.Struct({ status_code: Schema.Number, body: Schema.Unknown })),
  error: Nullable(Schema.Struct({ code: Nullable(Schema.String), message: Nullable(Schema.String) }))
})
const decodeOutputLine = Schema.decodeUnknownEither(OutputLine)
const decodeChat = Schema.decodeUnknownEither(ChatResponse.ChatResponse)
const decodeEmbeddings = Schema.decodeUnknownEither(Embedding.EmbeddingResponse)

const toInfo = (batch: typeof BatchObject.Type): BatchExecutor.BatchInfo => ({
  id: batch.id,
  status: batch.status,
  endpoint: batch.endpoint,
  inputFileId: batch.input_file_id,
  outputFileId: batch.output_file_id ?? undefined,
  errorFileId: batch.error_file_id ?? undefined,
  requestCounts: batch.request_counts ?? { total: 0, completed: 0, failed: 0 },
  createdAt: batch.created_at,
  errors: (batch.errors?.data ?? []).map((error) => ({
    code: error.code ?? "unknown",
    message: error.message ?? "",
    line: error.line ?? undefined
  })),
  metadata: batch.metadata ?? {}
})

type Operation = BatchExecutor.BatchError["operation"]

const parseJson = (text: string): Either.Either<unknown, string> => {
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch (cause) {
    return Either.left(cause instanceof Error ? cause.message : String(cause))
  }
}

/** @internal */
export const makeWith = (httpClient: HttpClient.HttpClient, options: OpenAiBatch.Options): BatchExecutor.BatchExecutor.Service => {
  const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
  const apiKey = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
  const scrub = apiKey === undefined || apiKey === ""
    ? (text: string) => text
    : (text: string) => text.includes(apiKey) ? text.split(apiKey).join("[REDACTED]") : text

  const headerInput: Record<string, string> = {}
  for (const [name, value] of Object.entries(options.headers ?? {})) headerInput[name.toLowerCase()] = value
  if (apiKey !== undefined && apiKey !== "") headerInput["authorization"] = `Bearer ${apiKey}`
  if (options.organization !== undefined) headerInput["openai-organization"] = options.organization
  if (options.project !== undefined) headerInput["openai-project"] = options.project

  const fail = (operation: Operation, fields: Omit<ConstructorParameters<typeof BatchExecutor.BatchError>[0], "operation">) =>
    Effect.fail(new BatchExecutor.BatchError({ operation, ...fields, detail: scrub(fields.detail) }))

  const fromStatus = (operation: Operation, status: number, text: string, headers: RateLimitHeaders.HeaderLookup) => {
    const fields = errorFields(scrub(text))
    const code = fields.code ?? fields.type
    const kind: BatchExecutor.BatchError["kind"] = status === 401 || status === 403
      ? "unauthorized"
      : status === 404
      ? "notFound"
      : status === 429 || (code !== undefined && /limit|quota/i.test(code))
      ? "limit"
      : LLMError.isRetryableStatus(status)
      ? "transient"
      : "rejected"
    const retryAfter = RateLimitHeaders.retryAfter(headers)
    return fail(operation, {
      kind,
      status,
      ...(code === undefined ? {} : { code }),
      detail: fields.message === "" ? `HTTP ${status}` : fields.message,
      ...(retryAfter === undefined ? {} : { retryAfter })
    })
  }

  /** Sends a request and returns the body text of a 2xx answer. */
  const send = (operation: Operation, request: HttpClientRequest.HttpClientRequest): Effect.Effect<string, BatchExecutor.BatchError> =>
    Effect.matchEffect(httpClient.execute(HttpClientRequest.setHeaders(request, headerInput)), {
      onFailure: (error) => fail(operation, { kind: "transient", detail: `connection failed: ${error.message}` }),
      onSuccess: (response) =>
        Effect.matchEffect(response.text, {
          onFailure: (error) => fail(operation, { kind: "transient", detail: `the response was cut off: ${error.message}` }),
          onSuccess: (text) =>
            response.status >= 200 && response.status < 300
              ? Effect.succeed(text)
              : fromStatus(operation, response.status, text, response.headers)
        })
    })

  const sendJson = <A, I>(
    operation: Operation,
    request: HttpClientRequest.HttpClientRequest,
    decode: (u: unknown) => Either.Either<A, I>
  ): Effect.Effect<A, BatchExecutor.BatchError> =>
    Effect.flatMap(send(operation, request), (text) => {
      const decoded = Either.flatMap(parseJson(text), (json) => Either.mapLeft(decode(json), () => "unexpected shape"))
      return Either.isRight(decoded)
        ? Effect.succeed(decoded.right)
        : fail(operation, { kind: "transient", detail: `the answer is not what the Batch API sends (${decoded.left}): ${text.slice(0, 200)}` })
    })

  const batchRequest = (operation: Operation, request: HttpClientRequest.HttpClientRequest) =>
    Effect.map(sendJson(operation, request, decodeBatch), toInfo)

  const upload: BatchExecutor.BatchExecutor.Service["upload"] = (_endpoint, lines) =>
    Effect.suspend(() => {
      // multipart/form-data by hand: the lean transport sends bytes, and the file is at most 200 MB
      const boundary = `----fastllm${randomBytes(12).toString("hex")}`
      const content = lines.map((line) => BatchExecutor.encodeLine(line) + "\n").join("")
      const body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
            `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="fastllm-batch.jsonl"\r\n` +
            `content-type: application/jsonl\r\n\r\n`
        ),
        Buffer.from(content),
        Buffer.from(`\r\n--${boundary}--\r\n`)
      ])
      const request = HttpClientRequest.post(`${baseUrl}/files`).pipe(
        HttpClientRequest.setBody(HttpBody.uint8Array(body, `multipart/form-data; boundary=${boundary}`))
      )
      return Effect.map(sendJson("upload", request, decodeFile), (file) => file.id)
    })

  const create: BatchExecutor.BatchExecutor.Service["create"] = (fileId, endpoint, metadata) =>
    batchRequest(
      "create",
      HttpClientRequest.post(`${baseUrl}/batches`).pipe(
        HttpClientRequest.setBody(HttpBody.unsafeJson({
          input_file_id: fileId,
          endpoint,
          completion_window: "24h",
          ...(metadata === undefined ? {} : { metadata })
        }))
      )
    )

  const outcomeOf = (endpoint: string, text: string): BatchExecutor.LineOutcome | undefined => {
    const json = parseJson(text)
    if (Either.isLeft(json)) return undefined
    const decoded = decodeOutputLine(json.right)
    if (Either.isLeft(decoded)) return undefined
    const { custom_id: customId, error, response } = decoded.right
    if (response != null && response.status_code >= 200 && response.status_code < 300) {
      const body = endpoint.endsWith("/embeddings")
        ? Either.map(decodeEmbeddings(response.body), (r): ApiRequest.ApiResponse => ({ _tag: "Embedding", response: r }))
        : Either.map(decodeChat(response.body), (r): ApiRequest.ApiResponse => ({ _tag: "Chat", response: r }))
      return Either.isRight(body) ? { _tag: "Answered", customId, response: body.right } : {
        _tag: "Failed",
        customId,
        error: new LLMError.DecodeError({ reason: `the JSON is not a valid response: ${body.left.message}`, retryable: false })
      }
    }
    if (response != null) {
      const fields = errorFields(scrub(JSON.stringify(response.body)))
      return {
        _tag: "Failed",
        customId,
        error: new LLMError.ApiError({
          status: response.status_code,
          ...(fields.type === undefined ? {} : { type: fields.type }),
          ...(fields.code === undefined ? {} : { code: fields.code }),
          ...(fields.param === undefined ? {} : { param: fields.param }),
          detail: fields.message === "" ? `HTTP ${response.status_code}` : fields.message,
          retryable: false
        })
      }
    }
    const code = error?.code ?? "unknown"
    if (code === "batch_expired" || code === "batch_cancelled") return { _tag: "Expired", customId }
    return {
      _tag: "Failed",
      customId,
      error: new LLMError.ApiError({ status: 400, code, detail: scrub(error?.message ?? code), retryable: false })
    }
  }

  const fileLines = (endpoint: string, fileId: string) =>
    Stream.unwrap(Effect.map(
      send("results", HttpClientRequest.get(`${baseUrl}/files/${encodeURIComponent(fileId)}/content`)),
      (text) =>
        Stream.fromIterable(text.split("\n")).pipe(
          Stream.filter((line) => line.trim() !== ""),
          Stream.filterMap((line) => Option.fromNullable(outcomeOf(endpoint, line)))
        )
    ))

  return {
    name: options.name ?? providerName(baseUrl),
    maxRequests: options.maxRequests ?? 50_000,
    maxBytes: options.maxBytes ?? 200 * 1024 * 1024,
    upload,
    create,
    retrieve: (batchId) => batchRequest("retrieve", HttpClientRequest.get(`${baseUrl}/batches/${encodeURIComponent(batchId)}`)),
    results: (batch) =>
      Stream.concat(
        batch.outputFileId === undefined ? Stream.empty : fileLines(batch.endpoint, batch.outputFileId),
        batch.errorFileId === undefined ? Stream.empty : fileLines(batch.endpoint, batch.errorFileId)
      ),
    cancel: (batchId) =>
      batchRequest("cancel", HttpClientRequest.post(`${baseUrl}/batches/${encodeURIComponent(batchId)}/cancel`)),
    list: (listOptions) => {
      const query = new URLSearchParams({ limit: String(listOptions?.limit ?? 20) })
      if (listOptions?.after !== undefined) query.set("after", listOptions.after)
      return Effect.flatMap(
        sendJson("list", HttpClientRequest.get(`${baseUrl}/batches?${query}`), decodeBatchList),
        (list) =>
          Effect.forEach(list.data, (item) => {
            const decoded = decodeBatch(item)
            return Either.isRight(decoded)
              ? Effect.succeed(toInfo(decoded.right))
              : fail("list", { kind: "transient", detail: `a listed batch is not a Batch object: ${decoded.left.message}` })
          })
      )
    }
  }
}
