/**
 * What the server answers, as plain values: an {@link Outcome} for the transport to act out, and a
 * {@link Rejection} (an OpenAI error body with its status) that validation, authentication and the
 * rate buckets return instead of throwing.
 *
 * @internal
 */

/** What the transport must do for one request. @internal */
export type Outcome =
  | {
    readonly _tag: "Respond"
    readonly status: number
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
  }
  | { readonly _tag: "Reset"; readonly delayMs: number }
  | { readonly _tag: "Hang" }
  | {
    readonly _tag: "SlowBody"
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
    readonly chunks: number
    readonly chunkDelayMs: number
  }
  | {
    readonly _tag: "Truncated"
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
  }

/** The `error` object of an OpenAI error response (Azure's own errors have no `type` or `param`). @internal */
export interface ErrorBody {
  readonly message: string
  readonly type?: string
  readonly param?: string | null
  readonly code: string | null
}

/** A refused request: the status and error body to answer with, and extra headers. @internal */
export interface Rejection {
  readonly _tag: "Rejection"
  readonly status: number
  readonly error: ErrorBody
  readonly headers?: Record<string, string> | undefined
}

/** @internal */
export const reject = (status: number, error: ErrorBody, headers?: Record<string, string>): Rejection => ({
  _tag: "Rejection",
  status,
  error,
  headers
})

/** @internal */
export const isRejection = (value: unknown): value is Rejection =>
  typeof value === "object" && value !== null && "_tag" in value && value._tag === "Rejection"

/** A 400 `invalid_request_error`. @internal */
export const invalid = (message: string, param: string | null, code: string | null): Rejection =>
  reject(400, { message, type: "invalid_request_error", param, code })

/** A 404 `invalid_request_error` with no param or code (unknown URL, resource not found). @internal */
export const notFound = (message: string, code: string | null = null): Rejection =>
  reject(404, { message, type: "invalid_request_error", param: null, code })

/** Adds `headers` to a plain response; other outcomes pass unchanged. @internal */
export const withHeaders = (outcome: Outcome, headers: Record<string, string>): Outcome =>
  outcome._tag === "Respond" ? { ...outcome, headers: { ...outcome.headers, ...headers } } : outcome
