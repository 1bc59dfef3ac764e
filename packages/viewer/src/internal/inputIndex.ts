import * as fs from "node:fs"
import { forEachChunk } from "./resultIndex.js"

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** The `custom_id` of an input line as `fastllm run` names it: its own, else its line number. */
const customIdOf = (json: unknown, line: number): string =>
  isRecord(json) && typeof json.custom_id === "string" ? json.custom_id : String(line)

/** FNV-1a over UTF-16 code units: a 32-bit hash for the custom_id table. */
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * The input file of a run: the offset of every physical line (numbered from 1, as the output's
 * `batch_req_<line>` ids count them), read on demand. A request is found by its output line's id
 * and checked by custom_id; when that fails (an output from elsewhere, an edited input), a table
 * of custom_id hashes → line numbers is built once (8 bytes a line; the ids stay in the file).
 */
export class InputIndex {
  private offsets = new Float64Array(1024)
  private lines = 0
  private table: { readonly hashes: Uint32Array; readonly lines: Uint32Array } | undefined

  private constructor(readonly path: string, private readonly handle: fs.promises.FileHandle) {}

  static async open(path: string): Promise<InputIndex> {
    const handle = await fs.promises.open(path, "r")
    const index = new InputIndex(path, handle)
    try {
      const size = await forEachChunk(path, (buffer, _text, chunkOffset) => {
        let start = 0
        while (start < buffer.length) {
          index.push(chunkOffset + start)
          const newline = buffer.indexOf(10, start)
          start = newline === -1 ? buffer.length : newline + 1
        }
      })
      index.push(size) // the end, so line n spans offsets[n - 1] .. offsets[n]
      index.lines--
    } catch (e) {
      await handle.close()
      throw e
    }
    return index
  }

  private push(offset: number): void {
    if (this.lines + 1 >= this.offsets.length) {
      const grown = new Float64Array(this.offsets.length * 2)
      grown.set(this.offsets)
      this.offsets = grown
    }
    this.offsets[this.lines++] = offset
  }

  close(): Promise<void> {
    return this.handle.close()
  }

  /** The text of line `n` (from 1), without its line break; undefined past the end. */
  async text(n: number): Promise<string | undefined> {
    if (!Number.isInteger(n) || n < 1 || n > this.lines) return undefined
    const start = this.offsets[n - 1]!
    const length = this.offsets[n]! - start
    const buffer = Buffer.alloc(length)
    await this.handle.read(buffer, 0, length, start)
    return buffer.toString("utf8").replace(/\r?\n$/, "")
  }

  private async parsed(n: number): Promise<{ readonly json: unknown; readonly text: string } | undefined> {
    const text = await this.text(n)
    if (text === undefined) return undefined
    try {
      return { json: JSON.parse(text), text }
    } catch {
      return { json: undefined, text }
    }
  }

  private async buildTable(): Promise<{ readonly hashes: Uint32Array; readonly lines: Uint32Array }> {
    // Open addressing, twice the lines in slots; line 0 marks an empty slot.
    const slots = Math.max(16, 2 ** Math.ceil(Math.log2(this.lines * 2 + 1)))
    const hashes = new Uint32Array(slots)
    const lines = new Uint32Array(slots)
    let line = 0
    await forEachChunk(this.path, (buffer) => {
      let start = 0
      while (start < buffer.length) {
        const newline = buffer.indexOf(10, start)
        const end = newline === -1 ? buffer.length : newline
        line++
        let json: unknown
        try {
          json = JSON.parse(buffer.toString("utf8", start, end))
        } catch {
          json = undefined
        }
        const h = hash(customIdOf(json, line))
        let slot = h & (slots - 1)
        while (lines[slot] !== 0) slot = (slot + 1) & (slots - 1)
        hashes[slot] = h
        lines[slot] = line
        start = end + 1
      }
    })
    return { hashes, lines }
  }

  /**
   * The input line of the request with `customId`, trying line `hint` first (from the output's
   * `batch_req_<line>` id).
   */
  async find(customId: string, hint: number | undefined): Promise<{ readonly line: number; readonly json: unknown; readonly text: string } | undefined> {
    if (hint !== undefined) {
      const found = await this.parsed(hint)
      if (found !== undefined && customIdOf(found.json, hint) === customId) return { line: hint, ...found }
    }
    this.table ??= await this.buildTable()
    const { hashes, lines } = this.table
    const h = hash(customId)
    for (let slot = h & (hashes.length - 1); lines[slot] !== 0; slot = (slot + 1) & (hashes.length - 1)) {
      if (hashes[slot] !== h) continue
      const line = lines[slot]!
      const found = await this.parsed(line)
      if (found !== undefined && customIdOf(found.json, line) === customId) return { line, ...found }
    }
    return undefined
  }
}
