/**
 * What `Cli.main` does with the `fastllm` command, for any tree of it: the full one (`Cli.command`)
 * or, when the arguments say `run` and nothing but `run` can answer them, the root with `run` alone
 * ({@link runOnly}; bin.ts decides).
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as CliError from "../CliError.js"
import * as HelpConsole from "../HelpConsole.js"
import * as InputFile from "../InputFile.js"
import * as Typos from "../Typos.js"

/** The root command's description (its help's first lines). */
export const rootDescription = "Run large batches of OpenAI-compatible LLM requests fast, cheaply and safely"

/** The help's settings: no @effect/cli built-ins (`--wizard`, `--completions`, ...). */
export const cliConfig = CliConfig.layer({ showBuiltIns: false })

/**
 * The arguments after which only the `run` subcommand can be what @effect/cli parses, prints or
 * runs: `run` first, and none of @effect/cli's built-in options anywhere (they print help,
 * completions, a wizard or the version, which may show the whole tree). Anything else gets the
 * whole tree, so its help, errors and typo suggestions are the whole tree's.
 */
export const isPlainRun = (args: ReadonlyArray<string>): boolean =>
  args[0] === "run" &&
  !args.some((arg) =>
    arg === "--help" || arg === "-h" || arg === "--version" || arg === "--wizard" || arg.startsWith("--completions") ||
    arg.startsWith("--log-level")
  )

/**
 * Runs `command` on `argv` (as `process.argv`: runtime and script first) and returns the exit code.
 * Errors are printed to stderr here (a closed stdout ends the run quietly).
 */
export const run = <Name extends string, R, A>(
  command: Command.Command<Name, R, CliError.ConfigurationError | CliError.ItemsFailed | CliError.OutputClosed, A>,
  version: string,
  argv: ReadonlyArray<string>
): Effect.Effect<number, never, Exclude<R, CliConfig.CliConfig> | CliApp.CliApp.Environment> => {
  // @effect/cli reads a lone "-" as an option; the input "-" (stdin) is passed on as /dev/stdin
  const args = argv.slice(2).map((arg) => arg === "-" ? InputFile.devStdin : arg)
  const typo = Typos.check(command, args)
  if (typo !== undefined) {
    return Effect.as(Effect.sync(() => process.stderr.write(`fastllm: ${typo}\n`)), 2)
  }
  return Command.run(command, { name: "fastllm", version })([...argv.slice(0, 2), ...args]).pipe(
    Effect.as(0),
    Effect.catchAll((error) => {
      if (ValidationError.isValidationError(error)) return Effect.succeed(2) // @effect/cli printed it
      if (error._tag === "OutputClosed") return Effect.succeed(CliError.exitCode(error))
      return Effect.as(Effect.sync(() => process.stderr.write(`fastllm: ${error.message}\n`)), CliError.exitCode(error))
    }),
    HelpConsole.plainWhenPiped,
    Effect.provide(cliConfig)
  )
}
