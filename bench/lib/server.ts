/**
 * The testing server in a child process, so that the client under test and the server each get a
 * core of their own and `process.cpuUsage()` in the bench counts the client side only.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"

/**
 * A testing server running in a child process.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChildServer {
  /** Base URL including `/v1`. */
  readonly url: string
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string
  readonly child: ChildProcess
  /** Sends SIGTERM and waits for the process to exit. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `packages/testing/src/bin.ts` with `args` (e.g. `["--latency", "20"]`) on a free port of
 * 127.0.0.1 and resolves once it prints its `{url, port}` line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const startServer = (args: ReadonlyArray<string> = []): Promise<ChildServer> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "packages/testing/src/bin.ts", "--port", "0", ...args],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`testing server exited early (code ${code})`)))
    createInterface({ input: child.stdout! }).once("line", (line) => {
      const parsed: unknown = JSON.parse(line)
      const url = typeof parsed === "object" && parsed !== null && "url" in parsed && typeof parsed.url === "string"
        ? parsed.url
        : undefined
      if (url === undefined) return reject(new Error(`testing server printed ${line}`))
      resolve({
        url,
        origin: new URL(url).origin,
        child,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
          return exited
        }
      })
    })
  })
