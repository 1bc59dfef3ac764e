/**
 * The transport: a plain `node:http` server on 127.0.0.1 that feeds each request to the
 * {@link Engine} and acts out its {@link Outcome}.
 *
 * Why not @effect/platform's HttpServer: measured with bench/testing-server.ts (undici Pool,
 * concurrency 64, 2 cores shared with the client), the platform server's per-request fibers,
 * router and response conversion cost several times the CPU of this handler, and this server must
 * never be the bottleneck of a client benchmark. The lifecycle (listen, close with the scope) is
 * still an Effect: see TestServer.make.
 *
 * @internal
 */
import * as Http from "node:http"
import type { Options } from "../ServerOptions.js"
import { Engine, type Outcome } from "./engine.js"

/** A listening server. @internal */
export interface RunningNodeServer {
  readonly engine: Engine
  readonly port: number
  readonly url: string
  readonly close: () => Promise<void>
}

const MAX_BODY_BYTES = 64 * 1024 * 1024

/**
 * Starts listening on 127.0.0.1 (`options.port` or a free port).
 *
 * @internal
 */
export const listen = (options: Options): Promise<RunningNodeServer> => {
  const engine = new Engine(options)
  const timers = new Set<NodeJS.Timeout>()
  let closing = false

  const later = (ms: number, run: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      run()
    }, ms)
    timers.add(timer)
  }

  const act = (req: Http.IncomingMessage, res: Http.ServerResponse, outcome: Outcome): void => {
    if (res.destroyed || closing) return
    switch (outcome._tag) {
      case "Respond": {
        if (outcome.delayMs > 0) {
          later(outcome.delayMs, () => act(req, res, { ...outcome, delayMs: 0 }))
          return
        }
        outcome.headers["content-length"] = String(Buffer.byteLength(outcome.body))
        res.writeHead(outcome.status, outcome.headers)
        res.end(outcome.body)
        return
      }
      case "Reset": {
        req.socket.destroy()
        return
      }
      case "Hang":
        // Never answer: the connection stays open until the client gives up or the server closes.
        return
      case "SlowBody": {
        if (outcome.delayMs > 0) {
          later(outcome.delayMs, () => act(req, res, { ...outcome, delayMs: 0 }))
          return
        }
        const bytes = Buffer.from(outcome.body)
        res.writeHead(200, { ...outcome.headers, "content-length": String(bytes.length) })
        const size = Math.ceil(bytes.length / outcome.chunks)
        let offset = 0
        const step = () => {
          if (res.destroyed || closing) return
          const end = Math.min(bytes.length, offset + size)
          if (end >= bytes.length) {
            res.end(bytes.subarray(offset))
            return
          }
          res.write(bytes.subarray(offset, end))
          offset = end
          later(outcome.chunkDelayMs, step)
        }
        step()
        return
      }
      case "Truncated": {
        if (outcome.delayMs > 0) {
          later(outcome.delayMs, () => act(req, res, { ...outcome, delayMs: 0 }))
          return
        }
        const bytes = Buffer.from(outcome.body)
        res.writeHead(200, { ...outcome.headers, "content-length": String(bytes.length) })
        res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => {
          req.socket.destroy()
        })
        return
      }
    }
  }

  const server = Http.createServer({ keepAlive: true }, (req, res) => {
    engine.enter()
    res.once("close", () => engine.exit())
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        req.socket.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on("end", () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      let outcome: Outcome
      try {
        outcome = engine.handle(req.method, req.url, req.headers, body)
      } catch (error) {
        // a bug in the engine must not take the server (and the test run) down: answer 500
        outcome = {
          _tag: "Respond",
          status: 500,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            error: { message: `Test server bug: ${String(error)}`, type: "server_error", param: null, code: null }
          }),
          delayMs: 0
        }
      }
      act(req, res, outcome)
    })
  })
  server.keepAliveTimeout = 60_000

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject)
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({
        engine,
        port,
        url: `http://127.0.0.1:${port}/v1`,
        close: () =>
          new Promise<void>((done) => {
            closing = true
            for (const timer of timers) clearTimeout(timer)
            timers.clear()
            server.close(() => done())
            server.closeAllConnections()
          })
      })
    })
  })
}
