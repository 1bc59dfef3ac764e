/**
 * The index of a result file (OpenAI Batch output JSONL, as `fastllm run` writes it): one
 * streaming pass records, per line, its offset and a compact summary (outcome, error code, model,
 * tokens, cost, cached) in typed arrays, about 40 bytes a line; filters, sorts and pages run over
 * those, and single lines are read from the file on demand. A million lines never sit in memory
 * as text or objects.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/resultIndex.js"

/**
 * A result file that cannot be read.
 *
 * @since 0.2.0
 * @category errors
 */
export class ResultFileError extends Schema.TaggedError<ResultFileError>()("ResultFileError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Cannot read ${this.path}: ${this.reason}`
  }
}

/**
 * Filters, sort and page of {@link ResultIndex.page}.
 *
 * @since 0.2.0
 * @category models
 */
export type Query = internal.Query

/**
 * Sort orders: file order, prompt, completion or total tokens, cost.
 *
 * @since 0.2.0
 * @category models
 */
export type SortKey = internal.SortKey

/**
 * One table row.
 *
 * @since 0.2.0
 * @category models
 */
export type Row = internal.Row

/**
 * Totals over the file: outcomes, tokens, cost, errors by code, a histogram of output tokens.
 *
 * @since 0.2.0
 * @category models
 */
export type Summary = internal.Summary

/**
 * An indexed result file.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResultIndex {
  readonly path: string
  /** Non-blank lines (one row each, numbered from 0 in file order). */
  readonly size: number
  readonly summary: Effect.Effect<Summary>
  readonly page: (query: Query) => Effect.Effect<{ readonly total: number; readonly rows: ReadonlyArray<Row> }, ResultFileError>
  /** The raw text of row `index`. */
  readonly line: (index: number) => Effect.Effect<string, ResultFileError>
}

const describe = (e: unknown) => e instanceof Error ? e.message : String(e)

/**
 * Indexes a result file in one streaming pass; the file stays open until the scope closes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (path: string): Effect.Effect<ResultIndex, ResultFileError, Scope.Scope> =>
  Effect.gen(function*() {
    const index = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => internal.ResultIndex.open(path),
        catch: (e) => new ResultFileError({ path, reason: describe(e) })
      }),
      (index) => Effect.promise(() => index.close())
    )
    const fail = (e: unknown) => new ResultFileError({ path, reason: describe(e) })
    return {
      path,
      size: index.size,
      summary: Effect.sync(() => index.summary()),
      page: (query) => Effect.tryPromise({ try: () => index.page(query), catch: fail }),
      line: (i) =>
        i >= 0 && i < index.size && Number.isInteger(i)
          ? Effect.tryPromise({ try: () => index.line(i), catch: fail })
          : Effect.fail(new ResultFileError({ path, reason: `no row ${i} (the file has ${index.size})` }))
    }
  })
