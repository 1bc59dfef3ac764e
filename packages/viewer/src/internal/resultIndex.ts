import * as fs from "node:fs"
import * as Cost from "../Cost.js"
import * as LineFields from "./lineFields.js"

/** Grows typed arrays by doubling; one slot per non-blank line. */
class Columns {
  capacity = 0
  offset = new Float64Array(0)
  length = new Uint32Array(0)
  ok = new Uint8Array(0)
  cached = new Uint8Array(0)
  code = new Uint16Array(0)
  model = new Uint16Array(0)
  prompt = new Uint32Array(0)
  completion = new Uint32Array(0)
  cost = new Float64Array(0)

  grow(): void {
    const capacity = Math.max(1024, this.capacity * 2)
    const grown = <A extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(old: A, make: (n: number) => A): A => {
      const next = make(capacity)
      next.set(old)
      return next
    }
    this.offset = grown(this.offset, (n) => new Float64Array(n))
    this.length = grown(this.length, (n) => new Uint32Array(n))
    this.ok = grown(this.ok, (n) => new Uint8Array(n))
    this.cached = grown(this.cached, (n) => new Uint8Array(n))
    this.code = grown(this.code, (n) => new Uint16Array(n))
    this.model = grown(this.model, (n) => new Uint16Array(n))
    this.prompt = grown(this.prompt, (n) => new Uint32Array(n))
    this.completion = grown(this.completion, (n) => new Uint32Array(n))
    this.cost = grown(this.cost, (n) => new Float64Array(n))
    this.capacity = capacity
  }
}

/** Distinct strings (error codes, models) numbered in order of appearance; past the cap, "other". */
class Names {
  readonly names: Array<string> = []
  readonly counts: Array<number> = []
  private readonly ids = new Map<string, number>()
  constructor(private readonly cap: number) {}
  id(name: string): number {
    let id = this.ids.get(name)
    if (id === undefined) {
      if (this.names.length >= this.cap) return this.id("(other)")
      id = this.names.length
      this.ids.set(name, id)
      this.names.push(name)
      this.counts.push(0)
    }
    this.counts[id]!++
    return id
  }
  lookup(name: string): number | undefined {
    return this.ids.get(name)
  }
}

const chunkSize = 4 * 1024 * 1024

const isBlank = (buffer: Buffer, start: number, end: number) => {
  for (let i = start; i < end; i++) {
    const c = buffer[i]!
    if (c !== 32 && c !== 9 && c !== 13) return false
  }
  return true
}

/**
 * Calls `onChunk(buffer, text, fileOffset)` for the whole lines of a file, 4 MB at a time (memory
 * stays at about two chunks whatever the file size): `buffer` holds complete lines (the last one
 * may lack its newline at the end of the file), `text` is the same bytes as latin1, one character
 * per byte, so string and byte positions agree. Returns the file's size.
 */
export const forEachChunk = async (
  path: string,
  onChunk: (buffer: Buffer, text: string, fileOffset: number) => void
): Promise<number> => {
  const handle = await fs.promises.open(path, "r")
  try {
    // One buffer, reused: the unfinished last line moves to its front and the next read lands
    // after it (a Buffer.concat per chunk copied every byte twice).
    let buffer = Buffer.allocUnsafe(chunkSize)
    let rest = 0
    let restOffset = 0
    let position = 0
    for (;;) {
      if (buffer.length - rest < chunkSize / 2) {
        const grown = Buffer.allocUnsafe(buffer.length * 2)
        buffer.copy(grown, 0, 0, rest)
        buffer = grown
      }
      const { bytesRead } = await handle.read(buffer, rest, buffer.length - rest, position)
      if (bytesRead === 0) break
      position += bytesRead
      const filled = rest + bytesRead
      const end = buffer.lastIndexOf(10, filled - 1) + 1
      if (end > 0) onChunk(buffer.subarray(0, end), buffer.toString("latin1", 0, end), restOffset)
      buffer.copy(buffer, 0, end, filled)
      rest = filled - end
      restOffset += end
    }
    if (rest > 0) onChunk(buffer.subarray(0, rest), buffer.toString("latin1", 0, rest), restOffset)
    return position
  } finally {
    await handle.close()
  }
}

/**
 * Calls `onLine` for every non-blank line: `start` and `end` index `buffer` and `text` (the
 * chunk's latin1 text), `end` excluding the newline and a trailing CR.
 */
export const forEachLine = (
  path: string,
  onLine: (buffer: Buffer, text: string, start: number, end: number, fileOffset: number) => void
): Promise<number> =>
  forEachChunk(path, (buffer, text, chunkOffset) => {
    let start = 0
    while (start < buffer.length) {
      const newline = buffer.indexOf(10, start)
      const next = newline === -1 ? buffer.length : newline + 1
      const end = newline === -1 ? buffer.length : newline
      const stop = end > start && buffer[end - 1] === 13 ? end - 1 : end
      if (!isBlank(buffer, start, stop)) onLine(buffer, text, start, stop, chunkOffset + start)
      start = next
    }
  })

/** The sort orders of {@link Query}. */
export type SortKey = "line" | "prompt" | "completion" | "total" | "cost"

/** A page of rows: filters, a sort, an offset and a limit. */
export interface Query {
  readonly status?: "ok" | "failed" | undefined
  readonly code?: string | undefined
  readonly model?: string | undefined
  readonly search?: string | undefined
  readonly sort?: SortKey | undefined
  readonly descending?: boolean | undefined
  readonly offset?: number | undefined
  readonly limit?: number | undefined
}

/** One table row (what the list shows; the item itself is read on demand). */
export interface Row {
  readonly index: number
  readonly customId: string
  readonly ok: boolean
  readonly code: string
  readonly model: string
  readonly promptTokens: number
  readonly completionTokens: number
  readonly cost: number | null
  readonly cached: boolean
  /** The start of the answer text, or of the error message. */
  readonly preview: string
}

/** Totals over the whole file. */
export interface Summary {
  readonly path: string
  readonly bytes: number
  readonly lines: number
  readonly succeeded: number
  readonly failed: number
  readonly cached: number
  readonly promptTokens: number
  readonly completionTokens: number
  /** Dollars over the items whose cost is known, and how many items that is. */
  readonly cost: { readonly total: number; readonly known: number }
  readonly errorsByCode: ReadonlyArray<{ readonly code: string; readonly count: number }>
  readonly models: ReadonlyArray<{ readonly model: string; readonly count: number }>
  /** Output tokens of the successes: `counts[i]` items have `[i * width, (i + 1) * width)` tokens. */
  readonly outputTokens: { readonly width: number; readonly counts: ReadonlyArray<number> }
  readonly indexMillis: number
}

const histogram = (values: Uint32Array, include: Uint8Array, n: number) => {
  let max = 0
  for (let i = 0; i < n; i++) if (include[i] === 1 && values[i]! > max) max = values[i]!
  const steps = [1, 2, 5]
  let width = 1
  for (let k = 0; width * 40 < max + 1; k++) width = steps[k % 3]! * 10 ** Math.floor(k / 3)
  const counts = new Array<number>(Math.floor(max / width) + 1).fill(0)
  for (let i = 0; i < n; i++) if (include[i] === 1) counts[Math.floor(values[i]! / width)]!++
  return { width, counts }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * A regular expression over latin1 text (bytes) that finds `query` as it appears inside a JSON
 * string (escaped, UTF-8), ASCII letters in either case.
 */
export const searchPattern = (query: string): RegExp => {
  const escaped = Buffer.from(JSON.stringify(query).slice(1, -1), "utf8").toString("latin1")
  let source = ""
  for (const ch of escaped) {
    const lower = ch.toLowerCase()
    const upper = ch.toUpperCase()
    source += /^[a-zA-Z]$/.test(ch) ? `[${lower}${upper}]` : escapeRegExp(ch)
  }
  return new RegExp(source, "g")
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const previewOf = (json: unknown): { customId: string; preview: string } => {
  if (!isRecord(json)) return { customId: "", preview: "" }
  const customId = typeof json.custom_id === "string" ? json.custom_id : ""
  const response = isRecord(json.response) ? json.response : undefined
  const body = response !== undefined && isRecord(response.body) ? response.body : undefined
  const short = (text: string) => text.length > 160 ? text.slice(0, 160) + "…" : text
  if (isRecord(json.error) && typeof json.error.message === "string") return { customId, preview: short(json.error.message) }
  if (body !== undefined && isRecord(body.error) && typeof body.error.message === "string") {
    return { customId, preview: short(body.error.message) }
  }
  const choices = body !== undefined && Array.isArray(body.choices) ? body.choices : []
  const first: unknown = choices[0]
  const message = isRecord(first) && isRecord(first.message) ? first.message : undefined
  if (message !== undefined && typeof message.content === "string") return { customId, preview: short(message.content) }
  if (message !== undefined && Array.isArray(message.tool_calls)) {
    return { customId, preview: `tool calls: ${message.tool_calls.length}` }
  }
  const data = body !== undefined && Array.isArray(body.data) ? body.data : []
  const vector: unknown = isRecord(data[0]) ? data[0].embedding : undefined
  if (Array.isArray(vector)) return { customId, preview: `embedding of ${vector.length} dimensions (${data.length} inputs)` }
  return { customId, preview: "" }
}

/** The index of a result file: per-line columns in typed arrays, the lines read on demand. */
export class ResultIndex {
  private readonly columns = new Columns()
  private readonly codes = new Names(65535)
  private readonly models = new Names(65535)
  private rows = 0
  private bytes = 0
  private indexMillis = 0
  private readonly sorted = new Map<string, Uint32Array>()
  private lastSearch: { readonly query: string; readonly rows: Uint8Array } | undefined
  private lastFilter: { readonly key: string; readonly rows: Uint32Array } | undefined

  private constructor(readonly path: string, private readonly handle: fs.promises.FileHandle) {}

  /** Indexes `path` in one streaming pass. */
  static async open(path: string): Promise<ResultIndex> {
    const handle = await fs.promises.open(path, "r")
    const index = new ResultIndex(path, handle)
    try {
      await index.build()
    } catch (e) {
      await handle.close()
      throw e
    }
    return index
  }

  private async build(): Promise<void> {
    const started = performance.now()
    const pattern = LineFields.keyPattern()
    const starts = new Int32Array(LineFields.keys.length)
    this.bytes = await forEachChunk(this.path, (buffer, text, chunkOffset) => {
      const decode = (from: number, to: number) => buffer.toString("utf8", from, to)
      pattern.lastIndex = 0
      let match = pattern.exec(text)
      let start = 0
      while (start < text.length) {
        const newline = text.indexOf("\n", start)
        const next = newline === -1 ? text.length : newline + 1
        let end = newline === -1 ? text.length : newline
        if (end > start && text.charCodeAt(end - 1) === 13) end--
        starts.fill(-1)
        for (; match !== null && match.index < end; match = pattern.exec(text)) {
          const key = LineFields.slotAt(text, match.index, pattern.lastIndex)
          if (starts[key] === -1 && LineFields.unescapedAt(text, match.index)) starts[key] = pattern.lastIndex
        }
        if (!isBlank(buffer, start, end)) {
          const fields = LineFields.read(text, starts, decode) ?? LineFields.parse(buffer.toString("utf8", start, end))
          this.add(fields, chunkOffset + start, end - start)
        }
        start = next
      }
    })
    this.indexMillis = performance.now() - started
  }

  private add(fields: LineFields.LineFields, offset: number, length: number): void {
    const c = this.columns
    if (this.rows === c.capacity) c.grow()
    const i = this.rows++
    c.offset[i] = offset
    c.length[i] = length
    c.ok[i] = fields.ok ? 1 : 0
    c.cached[i] = fields.cached ? 1 : 0
    c.code[i] = fields.ok ? 0 : this.codes.id(fields.code) + 1
    c.model[i] = fields.model === "" ? 0 : this.models.id(fields.model) + 1
    c.prompt[i] = fields.promptTokens
    c.completion[i] = fields.completionTokens
    c.cost[i] = Cost.dollars(fields) ?? Number.NaN
  }

  /** Non-blank lines indexed. */
  get size(): number {
    return this.rows
  }

  close(): Promise<void> {
    return this.handle.close()
  }

  summary(): Summary {
    const c = this.columns
    let succeeded = 0
    let cached = 0
    let promptTokens = 0
    let completionTokens = 0
    let cost = 0
    let known = 0
    for (let i = 0; i < this.rows; i++) {
      succeeded += c.ok[i]!
      cached += c.cached[i]!
      promptTokens += c.prompt[i]!
      completionTokens += c.completion[i]!
      const dollars = c.cost[i]!
      if (!Number.isNaN(dollars)) {
        cost += dollars
        known++
      }
    }
    const byCount = <A extends { readonly count: number }>(a: A, b: A) => b.count - a.count
    return {
      path: this.path,
      bytes: this.bytes,
      lines: this.rows,
      succeeded,
      failed: this.rows - succeeded,
      cached,
      promptTokens,
      completionTokens,
      cost: { total: cost, known },
      errorsByCode: this.codes.names.map((code, i) => ({ code, count: this.codes.counts[i]! })).sort(byCount),
      models: this.models.names.map((model, i) => ({ model, count: this.models.counts[i]! })).sort(byCount),
      outputTokens: histogram(c.completion, c.ok, this.rows),
      indexMillis: Math.round(this.indexMillis)
    }
  }

  /** Row numbers in the order of `sort`, ties in file order. */
  private order(sort: SortKey, descending: boolean): Uint32Array | undefined {
    if (sort === "line") return undefined
    const key = `${sort}:${descending}`
    const cachedOrder = this.sorted.get(key)
    if (cachedOrder !== undefined) return cachedOrder
    const c = this.columns
    const n = this.rows
    const value = (i: number) =>
      sort === "prompt" ? c.prompt[i]! : sort === "completion" ? c.completion[i]! : sort === "total" ? c.prompt[i]! + c.completion[i]! : c.cost[i]!
    let order: Uint32Array
    let max = 0
    if (sort !== "cost") for (let i = 0; i < n; i++) max = Math.max(max, value(i))
    if (sort !== "cost" && (max + 1) * n < Number.MAX_SAFE_INTEGER) {
      // value * n + row in a Float64Array: the native numeric sort, no comparator calls
      // (~10× faster than Uint32Array.sort with a comparator over a million rows).
      const keys = new Float64Array(n)
      for (let i = 0; i < n; i++) keys[i] = (descending ? max - value(i) : value(i)) * n + i
      keys.sort()
      order = new Uint32Array(n)
      for (let i = 0; i < n; i++) order[i] = keys[i]! % n
    } else {
      order = new Uint32Array(n)
      for (let i = 0; i < n; i++) order[i] = i
      const rank = (v: number) => Number.isNaN(v) ? (descending ? -Infinity : Infinity) : v
      order.sort((a, b) => (descending ? rank(value(b)) - rank(value(a)) : rank(value(a)) - rank(value(b))) || a - b)
    }
    this.sorted.set(key, order)
    return order
  }

  /** Rows whose raw line contains `query` (inside JSON strings; ASCII letters in either case). */
  private async search(query: string): Promise<Uint8Array> {
    if (this.lastSearch?.query === query) return this.lastSearch.rows
    const rows = new Uint8Array(this.rows)
    const pattern = searchPattern(query)
    const offsets = this.columns.offset
    const rowAt = (position: number) => {
      let low = 0
      let high = this.rows - 1
      while (low < high) {
        const middle = (low + high + 1) >>> 1
        if (offsets[middle]! <= position) low = middle
        else high = middle - 1
      }
      return low
    }
    // One regular expression run over each chunk (not per line: a miss would scan the chunk's rest).
    await forEachChunk(this.path, (_buffer, text, chunkOffset) => {
      pattern.lastIndex = 0
      for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
        rows[rowAt(chunkOffset + match.index)] = 1
        const newline = text.indexOf("\n", match.index)
        if (newline === -1) break
        pattern.lastIndex = newline + 1
      }
    })
    this.lastSearch = { query, rows }
    return rows
  }

  /** The rows that pass the filters, in the query's order (the last answer is kept for paging). */
  async filter(query: Query): Promise<Uint32Array> {
    const key = JSON.stringify([query.status, query.code, query.model, query.search, query.sort, query.descending])
    if (this.lastFilter?.key === key) return this.lastFilter.rows
    const c = this.columns
    const n = this.rows
    const wantOk = query.status === "ok" ? 1 : query.status === "failed" ? 0 : -1
    const code = query.code === undefined ? -1 : (this.codes.lookup(query.code) ?? -2) + 1
    const model = query.model === undefined ? -1 : (this.models.lookup(query.model) ?? -2) + 1
    const found = query.search === undefined || query.search === "" ? undefined : await this.search(query.search)
    const order = this.order(query.sort ?? "line", query.descending === true)
    const out = new Uint32Array(n)
    let count = 0
    for (let k = 0; k < n; k++) {
      const i = order === undefined ? (query.descending === true ? n - 1 - k : k) : order[k]!
      if (wantOk !== -1 && c.ok[i] !== wantOk) continue
      if (code !== -1 && c.code[i] !== code) continue
      if (model !== -1 && c.model[i] !== model) continue
      if (found !== undefined && found[i] !== 1) continue
      out[count++] = i
    }
    const rows = out.slice(0, count)
    this.lastFilter = { key, rows }
    return rows
  }

  /** The raw text of row `i` (UTF-8). */
  async line(i: number): Promise<string> {
    const length = this.columns.length[i]!
    const buffer = Buffer.alloc(length)
    await this.handle.read(buffer, 0, length, this.columns.offset[i]!)
    return buffer.toString("utf8")
  }

  /** A page of rows for the query, and how many rows pass its filters. */
  async page(query: Query): Promise<{ readonly total: number; readonly rows: ReadonlyArray<Row> }> {
    const matching = await this.filter(query)
    const offset = Math.max(0, Math.min(query.offset ?? 0, matching.length))
    const limit = Math.max(0, Math.min(query.limit ?? 100, 1000))
    const picked = Array.from(matching.subarray(offset, offset + limit))
    const c = this.columns
    const rows = await Promise.all(picked.map(async (i): Promise<Row> => {
      let json: unknown
      try {
        json = JSON.parse(await this.line(i))
      } catch {
        json = undefined
      }
      const cost = c.cost[i]!
      return {
        index: i,
        ...previewOf(json),
        ok: c.ok[i] === 1,
        code: c.code[i] === 0 ? "" : this.codes.names[c.code[i]! - 1] ?? "",
        model: c.model[i] === 0 ? "" : this.models.names[c.model[i]! - 1] ?? "",
        promptTokens: c.prompt[i]!,
        completionTokens: c.completion[i]!,
        cost: Number.isNaN(cost) ? null : cost,
        cached: c.cached[i] === 1
      }
    }))
    return { total: matching.length, rows }
  }
}
