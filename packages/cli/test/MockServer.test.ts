import * as CliConfig from "@effect/cli/CliConfig"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import { ServerFlags } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as MockServer from "../src/MockServer.js"

/** What `fastllm mock-server ARGV` parses into (its options only, no server started). */
const parseCli = (argv: ReadonlyArray<string>) =>
  Options.processCommandLine(MockServer.options.server, argv, CliConfig.defaultConfig).pipe(
    Effect.map(([, , server]) => server),
    Effect.mapError((error) => HelpDoc.toAnsiText(error.error)),
    Effect.either,
    Effect.provide(NodeContext.layer)
  )

describe("mock-server flags (one definition: ServerFlags)", () => {
  it.effect("parse into the same server options as the standalone server", () =>
    Effect.gen(function*() {
      const argv = [
        "--port",
        "0",
        "--latency",
        "20",
        "--latency-max",
        "40",
        "--rpm",
        "3000",
        "--models",
        "a, b",
        "--seed",
        "7",
        "--reset",
        "0.1",
        "--retry-after",
        "10,30",
        "--burst",
        "--dimensions",
        "16"
      ]
      const fromCli = yield* parseCli(argv)
      assert.deepStrictEqual(fromCli, ServerFlags.parse(argv))
      assert.deepStrictEqual(
        fromCli,
        Either.right({
          port: 0,
          latency: { minMs: 20, maxMs: 40 },
          requestsPerMinute: 3000,
          models: ["a", "b"],
          faults: { seed: 7, reset: 0.1, retryAfterMs: [10, 30], burst: true },
          embeddingDimensions: 16
        })
      )
    }))

  it.effect("the command's port defaults to 8787; bad values get the same message", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseCli([]), Either.right({ port: 8787 }))
      const fromCli = yield* parseCli(["--reset", "2"])
      const standalone = ServerFlags.parse(["--reset", "2"])
      assert.isTrue(Either.isLeft(fromCli) && Either.isLeft(standalone))
      if (Either.isLeft(fromCli) && Either.isLeft(standalone)) {
        assert.include(fromCli.left, standalone.left)
        assert.include(standalone.left, "--reset")
      }
    }))
})
