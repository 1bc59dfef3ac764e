/**
 * Real HTTP over loopback for the TestServer tests (undici, no mocks).
 */
import * as Effect from "effect/Effect"
import { request } from "undici"

export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly text: string
  readonly json: unknown
  readonly chunks: number
}

export interface Call {
  readonly method?: "GET" | "POST"
  readonly body?: unknown
  readonly rawBody?: string
  readonly headers?: Record<string, string>
  readonly timeoutMs?: number
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Sends one request; fails with the transport error (reset, timeout, truncated body). */
export const call = (url: string, call: Call = {}): Effect.Effect<Reply, unknown> =>
  Effect.tryPromise({
    try: async (signal) => {
      const body = call.rawBody ?? (call.body === undefined ? undefined : JSON.stringify(call.body))
      const response = await request(url, {
        method: call.method ?? (body === undefined ? "GET" : "POST"),
        headers: { "content-type": "application/json", ...call.headers },
        ...(body === undefined ? {} : { body }),
        headersTimeout: call.timeoutMs ?? 5_000,
        bodyTimeout: call.timeoutMs ?? 5_000,
        signal
      })
      let text = ""
      let chunks = 0
      for await (const chunk of response.body) {
        chunks++
        text += Buffer.from(chunk).toString("utf8")
      }
      return {
        status: response.statusCode,
        headers: response.headers,
        text,
        json: parseJson(text),
        chunks
      }
    },
    catch: (error) => error
  })

/** A chat request with one user message. */
export const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content }],
  ...extra
})

/** The `error` object of an OpenAI error body, or undefined. */
export const errorOf = (reply: Reply): Record<string, unknown> | undefined => {
  const json = reply.json
  if (typeof json !== "object" || json === null || !("error" in json)) return undefined
  const error = json.error
  return typeof error === "object" && error !== null ? { ...error } : undefined
}

export const header = (reply: Reply, name: string): string | undefined => {
  const value = reply.headers[name]
  return typeof value === "string" ? value : value?.[0]
}
