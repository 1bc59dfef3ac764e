/**
 * Help and usage errors without colour codes when they do not go to a terminal: @effect/cli
 * renders its help with ANSI styles whatever the output is, so `fastllm run --help | less` or a
 * log file would show `[0;1m`. Colours stay on a terminal, unless `NO_COLOR` is set.
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

const colours = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && process.env["NO_COLOR"] === undefined

/**
 * Runs `effect` with a `Console` whose `log` (stdout) and `error` (stderr) drop colour codes when
 * their stream is not a terminal.
 *
 * @since 0.2.0
 * @category combinators
 */
export const plainWhenPiped = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((current) =>
    Console.withConsole(effect, {
      ...current,
      log: (...args) => current.log(...(colours(process.stdout) ? args : plain(args))),
      error: (...args) => current.error(...(colours(process.stderr) ? args : plain(args)))
    })
  )
