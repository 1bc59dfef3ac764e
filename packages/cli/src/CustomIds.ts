/**
 * Duplicated `custom_id`s. OpenAI's Batch API refuses an input file in which two lines share a
 * `custom_id` (the output could not be matched to its input); `fastllm run` answers every line
 * anyway, and warns once, at the first repeat, with a count in the summary.
 *
 * Memory: the ids themselves are not kept. Each distinct id is remembered as a 64-bit hash and the
 * line that first used it, in one typed array (12 bytes a slot, at most ~70% full: ~17–34 bytes
 * per id), so a 1,000,000-line file costs ~24 MB here instead of the ~365 MB a `Map` of the ids
 * took (`npx tsx bench/memory.ts --sizes 100000,300000`: 252 → 329 MB peak with the Map, flat with
 * this set). Two different ids share a 64-bit hash with odds of about n² / 2⁶⁵ (3 in 100 million
 * at a million ids): such a pair would be counted as a repeat, and the warning names both lines.
 *
 * @since 0.2.0
 */
import type * as BatchLine from "./BatchLine.js"

/**
 * Counts repeated custom_ids and reports the first one.
 *
 * @since 0.2.0
 * @category models
 */
export interface Tracker {
  readonly see: (line: BatchLine.ParsedLine) => void
  readonly count: () => number
}

/**
 * A set of strings kept as 64-bit hashes, each with a number (here: the line that first used the
 * string). Open addressing with linear probing in one `Uint32Array` of (high hash, low hash,
 * value) triples; a value of 0 marks an empty slot, so values must be ≥ 1 (line numbers are).
 *
 * @since 0.3.0
 * @category models
 */
export interface HashedIds {
  /** The value stored for `id` if a string with its hash was seen, else stores `value` and returns 0. */
  readonly firstOrAdd: (id: string, value: number) => number
  /** Distinct hashes stored. */
  readonly size: () => number
  /** Bytes held by the table. */
  readonly bytes: () => number
}

const INITIAL_SLOTS = 1024
const MAX_LOAD = 0.7

/**
 * An empty {@link HashedIds}.
 *
 * @example
 * ```ts
 * import { CustomIds } from "@fastllm/cli"
 *
 * const ids = CustomIds.hashedIds()
 * ids.firstOrAdd("req-1", 1) // 0: new
 * ids.firstOrAdd("req-1", 7) // 1: first seen on line 1
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const hashedIds = (): HashedIds => {
  let slots = INITIAL_SLOTS
  let table = new Uint32Array(slots * 3)
  let size = 0

  const insert = (into: Uint32Array, mask: number, hi: number, lo: number, value: number): number => {
    let slot = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask
    for (;;) {
      const at = slot * 3
      const stored = into[at + 2] ?? 0 // `?? 0`: typed-array reads are `number | undefined` to the checker
      if (stored === 0) {
        into[at] = hi
        into[at + 1] = lo
        into[at + 2] = value
        return 0
      }
      if (into[at] === hi && into[at + 1] === lo) return stored
      slot = (slot + 1) & mask
    }
  }

  const grow = () => {
    const bigger = new Uint32Array(slots * 2 * 3)
    const mask = slots * 2 - 1
    for (let at = 0; at < table.length; at += 3) {
      const value = table[at + 2] ?? 0
      if (value !== 0) insert(bigger, mask, table[at] ?? 0, table[at + 1] ?? 0, value)
    }
    slots *= 2
    table = bigger
  }

  return {
    firstOrAdd: (id, value) => {
      // Two independent 32-bit hashes of the UTF-16 code units: FNV-1a and a Murmur-style mix,
      // each finished with Murmur3's fmix32.
      let a = 0x811c9dc5
      let b = 0x9747b28c ^ id.length
      for (let i = 0; i < id.length; i++) {
        const c = id.charCodeAt(i)
        a = Math.imul(a ^ c, 0x01000193)
        b = Math.imul(b ^ c, 0x5bd1e995)
        b ^= b >>> 13
      }
      a = fmix32(a)
      b = fmix32(b)
      const first = insert(table, slots - 1, a >>> 0, b >>> 0, value)
      if (first === 0 && ++size > slots * MAX_LOAD) grow()
      return first
    },
    size: () => size,
    bytes: () => table.byteLength
  }
}

const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}

/**
 * A tracker that calls `warn` once, at the first repeated custom_id.
 *
 * @since 0.2.0
 * @category constructors
 */
export const tracker = (warn: (text: string) => void): Tracker => {
  const firstLine = hashedIds()
  let repeats = 0
  return {
    see: (line) => {
      if (!line.envelope) return // a bare body's id is its line number
      const first = firstLine.firstOrAdd(line.customId, line.line)
      if (first === 0) return
      if (repeats++ === 0) {
        warn(
          `custom_id ${JSON.stringify(line.customId)} is used by line ${first} and again by line ${line.line}: ` +
            "every line is answered, but OpenAI's Batch API would refuse this file (custom_ids must be unique)"
        )
      }
    },
    count: () => repeats
  }
}

/**
 * The summary's line about repeats.
 *
 * @since 0.2.0
 * @category formatting
 */
export const summary = (count: number): string =>
  `${count} line${count === 1 ? "" : "s"} reused an earlier custom_id (OpenAI's Batch API needs unique custom_ids)`
