/**
 * What the page shows of a run while it goes (`fastllm run ... --ui`): progress snapshots
 * (`BatchStats`), rates per interval, the latest failures, and the end. The server sends it to
 * every open page as Server-Sent Events; a page that opens late gets the history first.
 *
 * @since 0.2.0
 */
import type { BatchStats } from "@fastllm/core"
import * as Effect from "effect/Effect"

/**
 * One point of the rate charts: rates over the interval since the previous snapshot (not the
 * averages since the start that `BatchStats` carries).
 *
 * @since 0.2.0
 * @category models
 */
export interface Sample {
  /** Seconds since the run started. */
  readonly t: number
  readonly requestsPerSecond: number
  readonly promptTokensPerSecond: number
  readonly completionTokensPerSecond: number
  readonly inFlight: number
}

/**
 * A failed item as the live page lists it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Failure {
  readonly customId: string
  readonly code: string
  readonly message: string
}

/**
 * Settings of the run the page shows next to the live numbers.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunInfo {
  readonly input: string
  readonly output: string | undefined
  readonly concurrency: number
}

/**
 * An event for the page.
 *
 * @since 0.2.0
 * @category models
 */
export type Event =
  | { readonly _tag: "Run"; readonly run: RunInfo }
  | { readonly _tag: "Stats"; readonly stats: BatchStats.BatchStats; readonly sample: Sample }
  | { readonly _tag: "Failure"; readonly failure: Failure }
  | { readonly _tag: "Done"; readonly stats: BatchStats.BatchStats; readonly wallMillis: number; readonly output: string | undefined }

/**
 * The feed: publish from the run, subscribe from the server.
 *
 * @since 0.2.0
 * @category models
 */
export interface LiveFeed {
  readonly stats: (stats: BatchStats.BatchStats) => Effect.Effect<void>
  readonly failure: (failure: Failure) => void
  readonly done: (stats: BatchStats.BatchStats, wallMillis: number) => Effect.Effect<void>
  /** The events so far (bounded: the last 1,200 samples, the last 50 failures), then each new one. */
  readonly subscribe: (listener: (event: Event) => void) => () => void
}

const maxSamples = 1200
const maxFailures = 50

/**
 * A feed for one run.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (run: RunInfo): Effect.Effect<LiveFeed> =>
  Effect.sync(() => {
    const listeners = new Set<(event: Event) => void>()
    const samples: Array<Event> = []
    const failures: Array<Event> = []
    let last: BatchStats.BatchStats | undefined
    let finished: Event | undefined
    const emit = (event: Event) => {
      for (const listener of listeners) listener(event)
    }
    const push = (list: Array<Event>, max: number, event: Event) => {
      list.push(event)
      if (list.length > max) list.splice(0, list.length - max)
    }
    return {
      stats: (stats) =>
        Effect.sync(() => {
          const seconds = last === undefined ? stats.elapsedMillis / 1000 : (stats.elapsedMillis - last.elapsedMillis) / 1000
          const per = (now: number, before: number) => seconds > 0 ? (now - before) / seconds : 0
          const sample: Sample = {
            t: stats.elapsedMillis / 1000,
            requestsPerSecond: per(stats.done, last?.done ?? 0),
            promptTokensPerSecond: per(stats.tokens.promptTokens, last?.tokens.promptTokens ?? 0),
            completionTokensPerSecond: per(stats.tokens.completionTokens, last?.tokens.completionTokens ?? 0),
            inFlight: stats.inFlight
          }
          last = stats
          const event: Event = { _tag: "Stats", stats, sample }
          push(samples, maxSamples, event)
          emit(event)
        }),
      failure: (failure) => {
        const event: Event = { _tag: "Failure", failure }
        push(failures, maxFailures, event)
        emit(event)
      },
      done: (stats, wallMillis) =>
        Effect.sync(() => {
          finished = { _tag: "Done", stats, wallMillis, output: run.output }
          emit(finished)
        }),
      subscribe: (listener) => {
        listener({ _tag: "Run", run })
        for (const event of samples) listener(event)
        for (const event of failures) listener(event)
        if (finished !== undefined) listener(finished)
        listeners.add(listener)
        return () => void listeners.delete(listener)
      }
    }
  })
