/**
 * The `fastllm` command line: `fastllm run INPUT.jsonl [-o OUTPUT.jsonl]` and `fastllm mock-server`,
 * parsed with @effect/cli. {@link main} maps the outcome to the exit code: 0 every item succeeded,
 * 1 some items failed (the output says which), 2 usage or configuration error.
 *
 * @since 0.1.0
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import type * as Effect from "effect/Effect"
import * as Batches from "./Batches.js"
import * as CliError from "./CliError.js"
import * as Flags from "./Flags.js"
import * as Main from "./internal/main.js"
import * as PackageVersion from "./internal/packageVersion.js"
import * as MockServer from "./MockServer.js"
import * as EstimateCommand from "./EstimateCommand.js"
import * as RunCommand from "./RunCommand.js"
import * as View from "./View.js"
import * as Jobs from "./Jobs.js"
import * as Worker from "./Worker.js"

/**
 * The run finished but some items failed (exit code 1).
 *
 * @deprecated since 0.2.0: use `CliError.ItemsFailed` (the same class).
 * @since 0.1.0
 * @category errors
 */
export const ItemsFailed = CliError.ItemsFailed
/**
 * @deprecated since 0.2.0: use `CliError.ItemsFailed`.
 * @since 0.1.0
 * @category errors
 */
export type ItemsFailed = CliError.ItemsFailed

/**
 * @deprecated since 0.2.0: use `Flags.parseDuration`.
 * @since 0.1.0
 * @category parsing
 */
export const parseDuration = Flags.parseDuration

/**
 * @deprecated since 0.2.0: use `RunCommand.defaultCacheDirectory`.
 * @since 0.1.0
 * @category constructors
 */
export const defaultCacheDirectory = RunCommand.defaultCacheDirectory

/**
 * @deprecated since 0.2.0: use `RunCommand.runHandler`.
 * @since 0.1.0
 * @category commands
 */
export const runHandler = RunCommand.runHandler

/**
 * `fastllm run INPUT.jsonl [-o OUTPUT.jsonl]` (defined in `RunCommand`).
 *
 * @since 0.1.0
 * @category commands
 */
export const runCommand = RunCommand.command

/**
 * `fastllm mock-server`: the OpenAI-compatible test server, standalone.
 *
 * @since 0.1.0
 * @category commands
 */
export const mockServerCommand = Command.make("mock-server", MockServer.options, MockServer.handler).pipe(
  Command.withDescription(
    "Start the built-in OpenAI-compatible test server on 127.0.0.1 (simulated latency, rate limits and faults)"
  )
)

/**
 * The `fastllm` command with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("fastllm").pipe(
  Command.withDescription(Main.rootDescription),
  // One line per command; each command lives in its own module.
  Command.withSubcommands([
    RunCommand.command,
    EstimateCommand.command,
    mockServerCommand,
    View.viewCommand,
    Batches.command,
    Worker.command,
    Jobs.command
  ])
)

const version = PackageVersion.read(new URL("../package.json", import.meta.url))

/**
 * The help's settings: no @effect/cli built-ins (`--wizard`, `--completions`, ...); the generic
 * type lines go in `HelpConsole`, and each description says its default.
 *
 * @since 0.2.0
 * @category layers
 */
export const cliConfig = Main.cliConfig

/**
 * Runs the CLI on `argv` (as `process.argv`: runtime and script first) and returns the exit code.
 * Errors are printed to stderr here (a closed stdout ends the run quietly).
 *
 * @since 0.1.0
 * @category running
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> =>
  Main.run(command, version, argv)
