/**
 * `fastllm mock-server`: the OpenAI-compatible test server from `@fastllm/testing`, standalone, with
 * its latency, rate limits and faults set from the command line. The flags are the test server's
 * own (`ServerFlags.flags`, one definition for this command and `@fastllm/testing`'s bin.ts): each
 * becomes an @effect/cli option here, and their values become server options through
 * `ServerFlags.fromValues`, so both parse and check them the same way.
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type { TestServer } from "@fastllm/testing"
import * as ServerFlags from "@fastllm/testing/ServerFlags"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/** Defaults of this command that differ from the standalone server's. */
const defaults: Readonly<Record<string, string>> = { port: "8787" }

const toOption = (flag: ServerFlags.Flag): Options.Options<Option.Option<string>> => {
  if (flag.placeholder === undefined) {
    return Options.boolean(flag.name).pipe(
      Options.withDescription(flag.description),
      Options.map((on) => on ? Option.some("true") : Option.none())
    )
  }
  const fallback = defaults[flag.name]
  const option = Options.text(flag.name).pipe(
    Options.withPseudoName(flag.placeholder),
    Options.withDescription(fallback === undefined ? flag.description : `${flag.description} (default ${fallback})`)
  )
  return fallback === undefined
    ? Options.optional(option)
    : option.pipe(Options.withDefault(fallback), Options.map(Option.some))
}

const values = Options.all(Object.fromEntries(ServerFlags.flags.map((flag) => [flag.name, toOption(flag)])))

/**
 * The command's options: every test-server flag, checked and turned into server options.
 *
 * @since 0.1.0
 * @category commands
 */
export const options = {
  server: values.pipe(Options.mapEffect((given) =>
    Either.mapLeft(
      ServerFlags.fromValues(
        Object.entries(given).flatMap(([name, value]) => Option.isSome(value) ? [[name, value.value] as const] : [])
      ),
      (message) => ValidationError.invalidValue(HelpDoc.p(message))
    )
  ))
}

/**
 * The parsed options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Args {
  readonly server: TestServer.Options
}

/**
 * The server's options from the command's (parsing already made them).
 *
 * @since 0.1.0
 * @category constructors
 */
export const toServerOptions = (args: Args): TestServer.Options => args.server

/**
 * Serves until interrupted (Ctrl-C): one JSON line `{"url", "port"}` on stdout for scripts, one
 * line for people on stderr.
 *
 * @since 0.1.0
 * @category commands
 */
export const handler = (args: Args): Effect.Effect<void> =>
  Effect.scoped(Effect.gen(function*() {
    // Imported here, not with the module: the other commands never load the server.
    const TestServer = yield* Effect.promise(() => import("@fastllm/testing/TestServer"))
    const server = yield* TestServer.make(toServerOptions(args))
    process.stdout.write(JSON.stringify({ url: server.url, port: server.port }) + "\n")
    process.stderr.write(
      `fastllm mock-server: OpenAI-compatible test server at ${server.url} (Ctrl-C to stop). ` +
        `Try: OPENAI_BASE_URL=${server.url} fastllm run requests.jsonl\n`
    )
    return yield* Effect.never
  }))
