/**
 * The viewer's HTTP server on 127.0.0.1: the page (static files shipped in this package, uPlot
 * from its npm package: nothing is fetched from elsewhere), a JSON API over a {@link ResultIndex}
 * (summary, pages of rows, single items with their request from the input file), and the live
 * feed of a run as Server-Sent Events.
 *
 * Hostile content never runs: the page writes every value with `textContent`, and every response
 * carries a Content-Security-Policy that allows scripts from this server only (no inline script,
 * no eval) and no connection, image or frame from anywhere else. Requests whose Host is not this
 * server (DNS rebinding) are refused.
 *
 * Why `node:http` and not `@effect/platform`'s HttpServer: the server is a dozen routes, one of
 * them a long-lived SSE stream written as events arrive; plain handlers that run Effects keep it
 * short (bench/testing-server.ts measured the same trade for the test server).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as Http from "node:http"
import { createRequire } from "node:module"
import * as path from "node:path"
import { InputIndex } from "./internal/inputIndex.js"
import type * as LiveFeed from "./LiveFeed.js"
import type * as ResultIndex from "./ResultIndex.js"

/**
 * The server could not start (port in use, unreadable input file).
 *
 * @since 0.2.0
 * @category errors
 */
export class ViewerServerError extends Schema.TaggedError<ViewerServerError>()("ViewerServerError", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * Options of {@link make}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The result file to show (a run's output). */
  readonly results?: ResultIndex.ResultIndex | undefined
  /** The input file of the run, to show each item's request next to its answer. */
  readonly input?: string | undefined
  /** A live run to show. */
  readonly live?: LiveFeed.LiveFeed | undefined
  /** Default 0: a free port. */
  readonly port?: number | undefined
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
}

/**
 * A running viewer.
 *
 * @since 0.2.0
 * @category models
 */
export interface ViewerServer {
  readonly url: string
  readonly port: number
}

/**
 * The Content-Security-Policy of every response: this server's scripts, styles and data only.
 *
 * @since 0.2.0
 * @category security
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const require = createRequire(import.meta.url)

/** The files the page is made of, by URL path. Resolved through the packages (bundle-proof). */
const assets = (): ReadonlyMap<string, { readonly file: string; readonly type: string }> => {
  const staticDir = path.join(path.dirname(require.resolve("@fastllm/viewer/package.json")), "static")
  const uplot = require.resolve("uplot/dist/uPlot.iife.min.js")
  return new Map([
    ["/", { file: path.join(staticDir, "index.html"), type: "text/html; charset=utf-8" }],
    ["/app.js", { file: path.join(staticDir, "app.js"), type: "text/javascript; charset=utf-8" }],
    ["/app.css", { file: path.join(staticDir, "app.css"), type: "text/css; charset=utf-8" }],
    ["/uplot.js", { file: uplot, type: "text/javascript; charset=utf-8" }],
    ["/uplot.css", { file: path.join(path.dirname(uplot), "uPlot.min.css"), type: "text/css; charset=utf-8" }]
  ])
}

const securityHeaders = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store"
}

const send = (res: Http.ServerResponse, status: number, type: string, body: string | Buffer) => {
  res.writeHead(status, { ...securityHeaders, "content-type": type, "content-length": Buffer.byteLength(body) })
  res.end(body)
}

const json = (res: Http.ServerResponse, status: number, value: unknown) =>
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value))

const integerParam = (params: URLSearchParams, name: string): number | undefined => {
  const text = params.get(name)
  if (text === null || !/^\d{1,9}$/.test(text)) return undefined
  return Number(text)
}

const sortKeys: ReadonlyArray<ResultIndex.SortKey> = ["line", "prompt", "completion", "total", "cost"]

/** The query of `/api/rows` from its URL parameters; unknown values are ignored. */
const rowsQuery = (params: URLSearchParams): ResultIndex.Query => {
  const text = (name: string) => {
    const value = params.get(name)
    return value === null || value === "" ? undefined : value
  }
  const status = text("status")
  const sort = text("sort")
  return {
    status: status === "ok" || status === "failed" ? status : undefined,
    code: text("code"),
    model: text("model"),
    search: text("q"),
    sort: sortKeys.find((key) => key === sort),
    descending: params.get("desc") === "1",
    offset: integerParam(params, "offset"),
    limit: integerParam(params, "limit")
  }
}

const batchLineNumber = (json: unknown): number | undefined => {
  if (typeof json !== "object" || json === null || !("id" in json) || typeof json.id !== "string") return undefined
  const match = /^batch_req_(\d+)$/.exec(json.id)
  return match === null ? undefined : Number(match[1])
}

const customIdOf = (json: unknown): string | undefined =>
  typeof json === "object" && json !== null && "custom_id" in json && typeof json.custom_id === "string"
    ? json.custom_id
    : undefined

/**
 * Starts the viewer; it stops when the scope closes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ViewerServer, ViewerServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runPromise(runtime)
    const files = yield* Effect.try({
      try: assets,
      catch: (e) => new ViewerServerError({ reason: `The viewer's page files are missing: ${String(e)}` })
    })
    const inputPath = options.input
    const input = inputPath === undefined ? undefined : yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => InputIndex.open(inputPath),
        catch: (e) => new ViewerServerError({ reason: `Cannot read input ${inputPath}: ${e instanceof Error ? e.message : String(e)}` })
      }),
      (index) => Effect.promise(() => index.close())
    )
    const results = options.results
    const live = options.live
    const host = options.host ?? "127.0.0.1"
    let allowedHosts: ReadonlySet<string> = new Set()

    const item = async (row: number) => {
      if (results === undefined) return { status: 404, body: { error: "no result file" } }
      const text = await run(Effect.either(results.line(row)))
      if (text._tag === "Left") return { status: 404, body: { error: text.left.message } }
      let output: unknown = null
      let outputError: string | null = null
      try {
        output = JSON.parse(text.right)
      } catch (e) {
        outputError = `line ${row + 1} is not JSON: ${e instanceof Error ? e.message : String(e)}`
      }
      let request: unknown = null
      let requestNote: string | null = input === undefined ? "start the viewer with --input INPUT.jsonl to see the requests" : null
      const customId = customIdOf(output)
      if (input !== undefined && customId !== undefined) {
        const found = await input.find(customId, batchLineNumber(output))
        if (found === undefined) requestNote = `no line with custom_id ${JSON.stringify(customId)} in ${input.path}`
        else if (found.json === undefined) requestNote = `input line ${found.line} is not JSON: ${found.text.slice(0, 200)}`
        else request = found.json
      }
      return { status: 200, body: { row, output, outputError, raw: outputError === null ? null : text.right, request, requestNote } }
    }

    const events = (req: Http.IncomingMessage, res: Http.ServerResponse) => {
      if (live === undefined) return json(res, 404, { error: "no live run" })
      res.writeHead(200, { ...securityHeaders, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" })
      res.write(": fastllm\n\n")
      const unsubscribe = live.subscribe((event) => res.write(`data: ${JSON.stringify(event)}\n\n`))
      req.on("close", unsubscribe)
    }

    const handle = async (req: Http.IncomingMessage, res: Http.ServerResponse): Promise<void> => {
      if (!allowedHosts.has(req.headers.host ?? "")) return send(res, 421, "text/plain; charset=utf-8", "unknown host\n")
      if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain; charset=utf-8", "GET only\n")
      const url = new URL(req.url ?? "/", "http://viewer.invalid")
      const asset = files.get(url.pathname)
      if (asset !== undefined) {
        const body = await fs.promises.readFile(asset.file)
        res.setHeader("cache-control", "no-cache")
        return send(res, 200, asset.type, body)
      }
      switch (url.pathname) {
        case "/api/summary":
          return json(res, 200, {
            summary: results === undefined ? null : await run(results.summary),
            input: input === undefined ? null : input.path,
            live: live !== undefined
          })
        case "/api/rows": {
          if (results === undefined) return json(res, 404, { error: "no result file" })
          const page = await run(Effect.either(results.page(rowsQuery(url.searchParams))))
          return page._tag === "Right" ? json(res, 200, page.right) : json(res, 500, { error: page.left.message })
        }
        case "/api/item": {
          const row = integerParam(url.searchParams, "row")
          if (row === undefined) return json(res, 400, { error: "row must be a row number" })
          const answer = await item(row)
          return json(res, answer.status, answer.body)
        }
        case "/api/events":
          return events(req, res)
        default:
          return send(res, 404, "text/plain; charset=utf-8", "not found\n")
      }
    }

    const server = Http.createServer((req, res) => {
      handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) json(res, 500, { error: e instanceof Error ? e.message : String(e) })
        else res.destroy()
      })
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number, ViewerServerError>((resume) => {
        server.once("error", (e) => resume(Effect.fail(new ViewerServerError({ reason: `Cannot listen on ${host}:${options.port ?? 0}: ${e.message}` }))))
        server.listen(options.port ?? 0, host, () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    allowedHosts = new Set([`${host}:${port}`, `localhost:${port}`])
    return { url: `http://${host}:${port}/`, port }
  })
