/**
 * Help and usage errors without colour codes when they do not go to a terminal: @effect/cli
 * renders its help with ANSI styles whatever the output is, so `fastllm run --help | less` or a
 * log file would show `[0;1m`. Colours stay on a terminal, unless `NO_COLOR` is set. The help
 * also loses @effect/cli's generic lines ("A user-defined piece of text."): `CliConfig` can hide
 * the built-in options but not those.
 *
 * @since 0.2.0
 */
import * as Console from "effect/Console"
import type * as Effect from "effect/Effect"

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;]*[A-Za-z]/g

/**
 * Removes ANSI escape sequences from a text.
 *
 * @since 0.2.0
 * @category formatting
 */
export const stripAnsi = (text: string): string => text.replace(ansi, "")

const plain = (args: ReadonlyArray<unknown>): Array<unknown> =>
  args.map((arg) => typeof arg === "string" ? stripAnsi(arg) : arg)

/** @effect/cli's generic lines under every option: each description here says what it takes. */
const generic = new Set([
  "A user-defined piece of text.",
  "A user-defined piece of text that is confidential.",
  "A true or false value.",
  "An integer.",
  "A floating point number.",
  "A file.",
  "A directory.",
  "A file or directory.",
  "This setting is optional."
])

/**
 * Drops @effect/cli's generic paragraphs ("A user-defined piece of text.", "This setting is
 * optional.") from a help text, with the blank line each leaves.
 *
 * @since 0.2.0
 * @category formatting
 */
export const withoutGenericLines = (text: string): string =>
  text.split("\n").filter((line, index, lines) => {
    if (generic.has(stripAnsi(line).trim())) return false
    // a blank line directly before a dropped one goes too
    const next = lines[index + 1]
    return !(stripAnsi(line).trim() === "" && next !== undefined && generic.has(stripAnsi(next).trim()))
  }).join("\n")

const forHelp = (args: ReadonlyArray<unknown>): Array<unknown> =>
  args.map((arg) => typeof arg === "string" ? withoutGenericLines(arg) : arg)

const colours = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && process.env["NO_COLOR"] === undefined

/**
 * Runs `effect` with a `Console` whose `log` (stdout) and `error` (stderr) drop colour codes when
 * their stream is not a terminal, and whose `log` (the help) drops @effect/cli's generic lines.
 *
 * @since 0.2.0
 * @category combinators
 */
export const plainWhenPiped = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((current) =>
    Console.withConsole(effect, {
      ...current,
      log: (...args) => current.log(...forHelp(colours(process.stdout) ? args : plain(args))),
      error: (...args) => current.error(...(colours(process.stderr) ? args : plain(args)))
    })
  )
