/**
 * Standalone test server: `npx tsx packages/testing/src/bin.ts --port 0 --latency 20 --rpm 3000`.
 * Prints one JSON line `{"url": ..., "port": ...}` once listening, serves until SIGINT/SIGTERM.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestServer from "./TestServer.js"

const parsed = TestServer.parseArgs(process.argv.slice(2))

if (Either.isLeft(parsed)) {
  const help = process.argv.includes("--help") || process.argv.includes("-h")
  NodeRuntime.runMain(
    help
      ? Console.log(TestServer.argsUsage)
      : Effect.zipRight(Console.error(parsed.left), Effect.sync(() => {
        process.exitCode = 2
      }))
  )
} else {
  NodeRuntime.runMain(Effect.scoped(TestServer.serve(parsed.right)))
}
