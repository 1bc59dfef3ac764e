/**
 * "Did you mean --concurrency?": @effect/cli answers an unknown option with "Received unknown
 * argument: '--concurency'" alone, so the command checks the arguments first, against the names
 * each subcommand declares (read from its usage, so a new command needs nothing here).
 *
 * @since 0.2.0
 */
import * as AutoCorrect from "@effect/cli/AutoCorrect"
import * as CliConfig from "@effect/cli/CliConfig"
import type * as Command from "@effect/cli/Command"
import * as CommandDescriptor from "@effect/cli/CommandDescriptor"
import type * as Usage from "@effect/cli/Usage"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"

const builtIns = ["--help", "-h", "--version", "--completions", "--log-level", "--wizard"]

const optionNames = (usage: Usage.Usage): Array<string> => {
  switch (usage._tag) {
    case "Named":
      return usage.names.filter((name) => name.startsWith("-"))
    case "Optional":
    case "Repeated":
      return optionNames(usage.usage)
    case "Alternation":
    case "Concat":
      return [...optionNames(usage.left), ...optionNames(usage.right)]
    case "Empty":
    case "Mixed":
      return []
  }
}

/**
 * The nearest known name to `name` (at most 2 edits, or the only one it is a prefix of), if any.
 *
 * @since 0.2.0
 * @category combinators
 */
export const nearest = (name: string, known: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of known) {
    const distance = AutoCorrect.levensteinDistance(name, candidate, CliConfig.defaultConfig)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  if (best !== undefined) return best
  const prefixed = known.filter((candidate) => candidate.startsWith(name) && name.length >= 4)
  return prefixed.length === 1 ? prefixed[0] : undefined
}

/**
 * The message for the first unknown option of `args` (the arguments after the program) that is
 * near a known one, e.g. "unknown option --concurency: did you mean --concurrency?".
 *
 * @since 0.2.0
 * @category combinators
 */
export const check = <Name extends string, R, E, A>(
  command: Command.Command<Name, R, E, A>,
  args: ReadonlyArray<string>
): string | undefined => {
  const name = args[0]
  if (name === undefined) return undefined
  const subcommand = HashMap.get(CommandDescriptor.getSubcommands(command.descriptor), name)
  if (Option.isNone(subcommand)) return undefined
  const known = [...builtIns, ...optionNames(CommandDescriptor.getUsage(subcommand.value))]
  for (const arg of args.slice(1)) {
    if (arg === "--") return undefined
    if (!arg.startsWith("--")) continue
    const flag = arg.split("=")[0]!
    if (known.includes(flag)) continue
    const suggestion = nearest(flag, known)
    if (suggestion !== undefined) return `unknown option ${flag}: did you mean ${suggestion}?`
  }
  return undefined
}
