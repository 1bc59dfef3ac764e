import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type RateController, unlimited } from "./rateController.js"

/** @internal */
export interface RateControllerOptions {
  readonly requestsPerMinute: number | undefined
  readonly tokensPerMinute: number | undefined
  readonly learnFromHeaders: boolean
}

/**
 * Builds the rate controller of a RequestManager.
 *
 * @internal
 */
export const makeRateController = (_options: RateControllerOptions): Effect.Effect<RateController, never, Scope.Scope> =>
  Effect.sync(unlimited)
