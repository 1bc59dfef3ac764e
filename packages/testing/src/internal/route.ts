/**
 * The shape of an endpoint: a {@link Route} matches a method and path and answers a
 * {@link ServerRequest} with an {@link Outcome} or a {@link Rejection}, using the server's
 * {@link RouteContext} (options, rate buckets and faults, reply building). Endpoint groups are
 * factories ({@link RouteGroup}) so that a group can keep state per server (files, batches).
 *
 * @internal
 */
import type { Options } from "../ServerOptions.js"
import type { Outcome, Rejection } from "./reply.js"

/** One request as a route sees it. @internal */
export interface ServerRequest {
  readonly method: string
  /** The path without the query string. */
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: Buffer
  /** The capture groups of a RegExp `path` (empty for a string path). */
  readonly params: ReadonlyArray<string>
}

/** What the server offers its routes. @internal */
export interface RouteContext {
  /** The options in force now (they change with `configure`). */
  readonly options: () => Options
  /** Milliseconds on the server's monotonic clock. */
  readonly now: () => number
  /** A JSON response (counted in the stats, with an `x-request-id`). */
  readonly json: (status: number, value: unknown, headers?: Record<string, string>, delayMs?: number) => Outcome
  /** 404 `model_not_found` when `options.models` is set and lacks `model`. */
  readonly checkModel: (model: string) => Rejection | undefined
  /**
   * Rate buckets, quota and faults in front of a successful reply: takes one request and
   * `tokenCost` tokens, then answers `reply()`, a refusal or an injected fault.
   */
  readonly guarded: (model: string, tokenCost: number, reply: () => Outcome) => Outcome
  /** Latency of a successful reply with `outputTokens` completion tokens (ms). */
  readonly latency: (outputTokens: number) => number
  /** Answers `request` with the route its method and path match (for aliases such as Azure's paths). */
  readonly dispatch: (request: ServerRequest) => Outcome | Rejection
  /** Counts a structured-output answer in the stats. */
  readonly structuredAnswer: (kind: "valid" | "invalid" | "refusal") => void
}

/** An endpoint. @internal */
export interface Route {
  readonly method: "GET" | "POST" | "DELETE"
  /** An exact path, or a RegExp over the whole path whose groups become `params`. */
  readonly path: string | RegExp
  readonly handle: (request: ServerRequest) => Outcome | Rejection
}

/** A group of endpoints, made once per server (state lives in the closure). @internal */
export type RouteGroup = (context: RouteContext) => ReadonlyArray<Route>

/** A path segment, percent-decoded (left as it is when malformed). @internal */
export const pathSegment = (raw: string): string => {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}
