/**
 * OpenAI's Files and Batch API on a fast clock: `POST /v1/files` (multipart, purpose `batch`),
 * `GET /v1/files/{id}`, `GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches`,
 * `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`. A batch's state is a function of the
 * time since it was created (no timers): `validating` for `validatingMs`, `in_progress` while its
 * lines are answered at `linesPerSecond`, `finalizing` for `finalizingMs`, then `completed` with
 * an output file (answers, in a seeded shuffled order) and an error file (the lines answered 400).
 * Seeded faults: per-line 400s (`lineErrors`), batches that expire half-way (`expireBatches`),
 * that fail validation (`failValidation`), and creations refused for the enqueued-token limit
 * (`refuseCreations`). Files and batches live in memory for the server's lifetime.
 *
 * @internal
 */
import type { BatchOptions } from "../ServerOptions.js"
import { mulberry32 } from "./prng.js"

/** A reply of the batch routes. @internal */
export interface BatchReply {
  readonly status: number
  readonly body: string
  readonly contentType: string
}

/** Answers one batch line as the online endpoint would (status and JSON body). @internal */
export type Answer = (url: string, body: Record<string, unknown>) => { readonly status: number; readonly body: unknown }

interface StoredFile {
  readonly id: string
  readonly filename: string
  readonly purpose: string
  readonly createdAt: number
  readonly content: string
}

interface Line {
  readonly customId: string
  readonly url: string
  readonly body: Record<string, unknown>
}

type Fate = "ok" | "expire" | "failValidation" | "refuse"

interface Batch {
  readonly id: string
  readonly endpoint: string
  readonly inputFileId: string
  readonly createdAtMs: number
  readonly createdAt: number
  readonly lines: ReadonlyArray<Line>
  readonly metadata: Record<string, string> | null
  readonly fate: Fate
  /** The clock in force when the batch was created. */
  readonly timing: { readonly validatingMs: number; readonly linesPerSecond: number; readonly finalizingMs: number }
  readonly validationErrors: ReadonlyArray<{ code: string; message: string; param: string | null; line: number | null }>
  cancelledAtMs: number | undefined
  outputFileId: string | undefined
  errorFileId: string | undefined
  settled: boolean
}

const json = (status: number, value: unknown): BatchReply => ({
  status,
  body: JSON.stringify(value),
  contentType: "application/json"
})

const error = (status: number, message: string, code: string | null = null, param: string | null = null): BatchReply =>
  json(status, { error: { message, type: "invalid_request_error", param, code } })

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const endpoints = ["/v1/chat/completions", "/v1/embeddings"]

/** The fields of a multipart/form-data body (boundary read from its first line). */
const parseMultipart = (body: Buffer): Map<string, { readonly filename: string | undefined; readonly value: string }> => {
  const fields = new Map<string, { readonly filename: string | undefined; readonly value: string }>()
  const firstEnd = body.indexOf("\r\n")
  if (firstEnd < 3 || body[0] !== 45 || body[1] !== 45) return fields
  const delimiter = Buffer.from(`\r\n${body.subarray(0, firstEnd).toString("latin1")}`)
  let start = firstEnd + 2
  while (start < body.length) {
    const headerEnd = body.indexOf("\r\n\r\n", start)
    if (headerEnd === -1) break
    const headers = body.subarray(start, headerEnd).toString("utf8")
    const end = body.indexOf(delimiter, headerEnd + 4)
    if (end === -1) break
    const name = /name="([^"]*)"/i.exec(headers)?.[1]
    const filename = /filename="([^"]*)"/i.exec(headers)?.[1]
    if (name !== undefined) fields.set(name, { filename, value: body.subarray(headerEnd + 4, end).toString("utf8") })
    start = end + delimiter.length + 2
  }
  return fields
}

/** The Files and Batch API of one server. @internal */
export class BatchStore {
  private readonly files = new Map<string, StoredFile>()
  private readonly batches = new Map<string, Batch>()
  private counter = 0
  private random: () => number = mulberry32(0)
  private pending = { expire: 0, failValidation: 0, refuse: 0 }
  private options: BatchOptions = {}
  private seen: BatchOptions | undefined = undefined

  constructor(
    private readonly currentOptions: () => BatchOptions | undefined,
    private readonly answer: Answer,
    private readonly now: () => number = () => performance.now()
  ) {
    this.refresh()
  }

  /** Takes new options when `configure` changed them: the fault counters start again. */
  private refresh(): void {
    const current = this.currentOptions()
    if (current === this.seen && this.seen !== undefined) return
    this.seen = current
    const options = current ?? {}
    this.options = options
    this.random = mulberry32(options.seed ?? 0)
    this.pending = {
      expire: options.expireBatches ?? 0,
      failValidation: options.failValidation ?? 0,
      refuse: options.refuseCreations ?? 0
    }
  }

  /** The reply to a request under `/v1/files` or `/v1/batches`, or undefined for other paths. */
  handle(method: string, path: string, query: string, body: Buffer): BatchReply | undefined {
    this.refresh()
    if (path === "/v1/files" && method === "POST") return this.upload(body)
    if (path === "/v1/batches" && method === "POST") return this.create(body)
    if (path === "/v1/batches" && method === "GET") return this.list(new URLSearchParams(query))
    const file = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path)
    if (file !== null && method === "GET") return this.file(decodeURIComponent(file[1]!), file[2] !== undefined)
    const batch = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path)
    if (batch !== null) {
      const found = this.batches.get(decodeURIComponent(batch[1]!))
      if (found === undefined) return error(404, `No batch found with id '${batch[1]}'.`)
      if (batch[2] !== undefined && method === "POST") return this.cancel(found)
      if (batch[2] === undefined && method === "GET") return json(200, this.view(found))
    }
    return undefined
  }

  private nextId(prefix: string): string {
    this.counter++
    return `${prefix}${this.counter.toString(36).padStart(6, "0")}${Math.floor(this.random() * 1e9).toString(36)}`
  }

  private store(content: string, filename: string, purpose: string): StoredFile {
    const file = { id: this.nextId("file-"), filename, purpose, createdAt: Math.floor(Date.now() / 1000), content }
    this.files.set(file.id, file)
    return file
  }

  private fileObject(file: StoredFile) {
    return {
      id: file.id,
      object: "file",
      bytes: Buffer.byteLength(file.content),
      created_at: file.createdAt,
      filename: file.filename,
      purpose: file.purpose,
      status: "processed",
      status_details: null
    }
  }

  private upload(body: Buffer): BatchReply {
    const fields = parseMultipart(body)
    const purpose = fields.get("purpose")?.value
    const file = fields.get("file")
    if (purpose === undefined) return error(400, "Missing required parameter: 'purpose'.", null, "purpose")
    if (file === undefined) return error(400, "Missing required parameter: 'file'.", null, "file")
    if (purpose !== "batch") return error(400, `'${purpose}' is not one of the purposes this server takes ('batch').`, null, "purpose")
    return json(200, this.fileObject(this.store(file.value, file.filename ?? "upload.jsonl", purpose)))
  }

  private file(id: string, content: boolean): BatchReply {
    const file = this.files.get(id)
    if (file === undefined) return error(404, `No such File object: ${id}`, null, "id")
    return content ? { status: 200, body: file.content, contentType: "application/octet-stream" } : json(200, this.fileObject(file))
  }

  private create(raw: Buffer): BatchReply {
    let body: unknown
    try {
      body = JSON.parse(raw.toString("utf8"))
    } catch {
      body = undefined
    }
    if (!isRecord(body)) return error(400, "We could not parse the JSON body of your request.")
    const { completion_window: window, endpoint, input_file_id: fileId, metadata } = body
    if (typeof endpoint !== "string" || !endpoints.includes(endpoint)) {
      return error(400, `Invalid endpoint: ${String(endpoint)}. Supported: ${endpoints.join(", ")}.`, null, "endpoint")
    }
    if (window !== "24h") return error(400, "Invalid completion_window: only '24h' is supported.", null, "completion_window")
    if (typeof fileId !== "string") return error(400, "Missing required parameter: 'input_file_id'.", null, "input_file_id")
    const file = this.files.get(fileId)
    if (file === undefined) return error(404, `No such File object: ${fileId}`, null, "input_file_id")
    const { errors, lines } = this.validate(file.content, endpoint)
    const fate: Fate = this.pending.refuse > 0
      ? (this.pending.refuse--, "refuse")
      : this.pending.failValidation > 0
      ? (this.pending.failValidation--, "failValidation")
      : this.pending.expire > 0
      ? (this.pending.expire--, "expire")
      : "ok"
    const now = this.now()
    const batch: Batch = {
      id: this.nextId("batch_"),
      endpoint,
      inputFileId: fileId,
      createdAtMs: now,
      createdAt: Math.floor(Date.now() / 1000),
      lines,
      metadata: isRecord(metadata) ? Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, String(v)])) : null,
      fate,
      timing: this.timing(),
      validationErrors: fate === "failValidation"
        ? [{ code: "invalid_request", message: "The batch input file failed validation (injected fault).", param: null, line: 1 }]
        : fate === "refuse"
        ? [{
          code: "token_limit_exceeded",
          message:
            "Enqueued token limit reached for this model in organization org-fastllm-test. Please try again once some in_progress batches have been completed.",
          param: null,
          line: null
        }]
        : errors,
      cancelledAtMs: undefined,
      outputFileId: undefined,
      errorFileId: undefined,
      settled: false
    }
    this.batches.set(batch.id, batch)
    return json(200, this.view(batch))
  }

  private validate(content: string, endpoint: string) {
    const lines: Array<Line> = []
    const errors: Array<{ code: string; message: string; param: string | null; line: number | null }> = []
    const seen = new Set<string>()
    content.split("\n").forEach((text, i) => {
      if (text.trim() === "" || errors.length >= 10) return
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        value = undefined
      }
      const problem = (message: string, param: string | null) =>
        void errors.push({ code: "invalid_request", message, param, line: i + 1 })
      if (!isRecord(value)) return problem("This line is not parseable as valid JSON.", null)
      const { body, custom_id: customId, method, url } = value
      if (typeof customId !== "string") return problem("Missing custom_id.", "custom_id")
      if (seen.has(customId)) return problem(`The custom_id '${customId}' is used more than once.`, "custom_id")
      if (method !== "POST") return problem("The method must be POST.", "method")
      if (url !== endpoint) return problem(`The url must match the batch's endpoint ${endpoint}.`, "url")
      if (!isRecord(body)) return problem("The body must be a JSON object.", "body")
      seen.add(customId)
      lines.push({ customId, url, body })
    })
    if (lines.length === 0 && errors.length === 0) {
      errors.push({ code: "empty_file", message: "The batch input file is empty.", param: null, line: null })
    }
    return { lines, errors }
  }

  private timing() {
    return {
      validatingMs: this.options.validatingMs ?? 20,
      linesPerSecond: this.options.linesPerSecond ?? 50_000,
      finalizingMs: this.options.finalizingMs ?? 20
    }
  }

  /** The status and counts of a batch at this moment; settles it (writes its files) once it ended. */
  private view(batch: Batch) {
    const { finalizingMs, linesPerSecond, validatingMs } = batch.timing
    const now = this.now()
    const elapsed = now - batch.createdAtMs
    const total = batch.lines.length
    const seconds = (ms: number) => Math.floor((Date.now() - (now - batch.createdAtMs - ms)) / 1000)
    const processed = (at: number) => Math.min(total, Math.floor(Math.max(0, at - validatingMs) * linesPerSecond / 1000))
    const runMs = total * 1000 / linesPerSecond
    let status: string
    let counted = 0
    const failed = batch.fate === "failValidation" || batch.fate === "refuse" || batch.validationErrors.length > 0
    if (elapsed < validatingMs && batch.cancelledAtMs === undefined) status = "validating"
    else if (failed) status = "failed"
    else if (batch.cancelledAtMs !== undefined) {
      counted = processed(batch.cancelledAtMs - batch.createdAtMs)
      status = now - batch.cancelledAtMs < finalizingMs ? "cancelling" : "cancelled"
    } else if (batch.fate === "expire") {
      counted = Math.min(processed(elapsed), Math.floor(total / 2))
      status = elapsed < validatingMs + runMs / 2 + finalizingMs ? "in_progress" : "expired"
    } else if (elapsed < validatingMs + runMs) {
      counted = processed(elapsed)
      status = "in_progress"
    } else if (elapsed < validatingMs + runMs + finalizingMs) {
      counted = total
      status = "finalizing"
    } else {
      counted = total
      status = "completed"
    }
    const ended = status === "completed" || status === "expired" || status === "cancelled"
    if (ended && !batch.settled) this.settle(batch, counted)
    const lineErrors = this.options.lineErrors ?? 0
    const failedCount = lineErrors > 0 ? Math.round(counted * lineErrors) : 0
    return {
      id: batch.id,
      object: "batch",
      endpoint: batch.endpoint,
      model: typeof batch.lines[0]?.body.model === "string" ? batch.lines[0].body.model : null,
      errors: status === "failed" ? { object: "list", data: batch.validationErrors } : null,
      input_file_id: batch.inputFileId,
      completion_window: "24h",
      status,
      output_file_id: batch.outputFileId ?? null,
      error_file_id: batch.errorFileId ?? null,
      created_at: batch.createdAt,
      in_progress_at: elapsed >= validatingMs && !failed ? seconds(validatingMs) : null,
      expires_at: batch.createdAt + 86_400,
      finalizing_at: status === "finalizing" || status === "completed" ? seconds(validatingMs + runMs) : null,
      completed_at: status === "completed" ? seconds(validatingMs + runMs + finalizingMs) : null,
      failed_at: status === "failed" ? seconds(validatingMs) : null,
      expired_at: status === "expired" ? batch.createdAt : null,
      cancelling_at: batch.cancelledAtMs === undefined ? null : batch.createdAt,
      cancelled_at: status === "cancelled" ? batch.createdAt : null,
      request_counts: {
        total: failed ? 0 : total,
        completed: status === "completed" && batch.settled ? batch.lines.length - this.errorCount(batch) : counted - failedCount,
        failed: status === "completed" && batch.settled ? this.errorCount(batch) : failedCount
      },
      metadata: batch.metadata
    }
  }

  private errorCounts = new Map<string, number>()

  private errorCount(batch: Batch): number {
    return this.errorCounts.get(batch.id) ?? 0
  }

  /** Answers the first `processed` lines (a seeded share with 400s), shuffled into the output and error files. */
  private settle(batch: Batch, processed: number): void {
    batch.settled = true
    const random = mulberry32((this.options.seed ?? 0) ^ this.counter)
    const lineErrors = this.options.lineErrors ?? 0
    const output: Array<string> = []
    const errors: Array<string> = []
    batch.lines.forEach((line, index) => {
      const id = `batch_req_${index.toString(36)}${batch.id.slice(-6)}`
      if (index >= processed) {
        if (batch.fate === "expire") {
          errors.push(JSON.stringify({
            id,
            custom_id: line.customId,
            response: null,
            error: { code: "batch_expired", message: "This request could not be executed before the completion window expired." }
          }))
        }
        return
      }
      const injected = lineErrors > 0 && random() < lineErrors
      const reply = injected
        ? {
          status: 400,
          body: {
            error: {
              message: "Invalid 'messages': this request was refused (injected per-line fault).",
              type: "invalid_request_error",
              param: "messages",
              code: "invalid_value"
            }
          }
        }
        : this.answer(line.url, line.body)
      const text = JSON.stringify({
        id,
        custom_id: line.customId,
        response: { status_code: reply.status, request_id: `req_${id.slice(10)}`, body: reply.body },
        error: null
      })
      if (reply.status === 200) output.push(text)
      else errors.push(text)
    })
    // results come back in any order: shuffle them (seeded Fisher-Yates)
    for (const list of [output, errors]) {
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        const swap = list[i]!
        list[i] = list[j]!
        list[j] = swap
      }
    }
    this.errorCounts.set(batch.id, errors.filter((text) => !text.includes("\"batch_expired\"")).length)
    if (output.length > 0) batch.outputFileId = this.store(output.join("\n") + "\n", `${batch.id}_output.jsonl`, "batch_output").id
    if (errors.length > 0) batch.errorFileId = this.store(errors.join("\n") + "\n", `${batch.id}_error.jsonl`, "batch_output").id
  }

  private cancel(batch: Batch): BatchReply {
    const view = this.view(batch)
    if (view.status === "completed" || view.status === "failed" || view.status === "expired") {
      return error(400, `Cannot cancel a batch with status '${view.status}'.`, null, null)
    }
    if (batch.cancelledAtMs === undefined) batch.cancelledAtMs = this.now()
    return json(200, this.view(batch))
  }

  private list(query: URLSearchParams): BatchReply {
    const limit = Math.min(100, Math.max(1, Number(query.get("limit") ?? 20) || 20))
    const after = query.get("after")
    const all = [...this.batches.values()].reverse()
    const from = after === null ? 0 : all.findIndex((batch) => batch.id === after) + 1
    const page = all.slice(from, from + limit)
    return json(200, {
      object: "list",
      data: page.map((batch) => this.view(batch)),
      first_id: page[0]?.id ?? null,
      last_id: page[page.length - 1]?.id ?? null,
      has_more: from + limit < all.length
    })
  }
}
