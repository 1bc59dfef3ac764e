/**
 * Duplicated `custom_id`s. OpenAI's Batch API refuses an input file in which two lines share a
 * `custom_id` (the output could not be matched to its input); `fastllm run` answers every line
 * anyway, and warns once, at the first repeat, with a count in the summary.
 *
 * Memory: one entry per distinct custom_id of the lines that carry one (bare bodies are numbered
 * by line and never repeat), about 60 bytes each for typical ids.
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
 * A tracker that calls `warn` once, at the first repeated custom_id.
 *
 * @since 0.2.0
 * @category constructors
 */
export const tracker = (warn: (text: string) => void): Tracker => {
  const firstLine = new Map<string, number>()
  let repeats = 0
  return {
    see: (line) => {
      if (!line.envelope) return // a bare body's id is its line number
      const first = firstLine.get(line.customId)
      if (first === undefined) {
        firstLine.set(line.customId, line.line)
        return
      }
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
