/**
 * Option parsers whose errors name the flag ("--concurrency: 'abc' is not an integer"), which
 * @effect/cli's own `Options.integer` does not ("'abc' is not a integer"), and whose help shows the
 * default. Shared by the commands.
 *
 * @since 0.2.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DurationText from "./DurationText.js"

/**
 * Parses a duration: `30` (seconds), `500ms`, `30s`, `5m`, `2h`, `7d`, or Effect's `"30 seconds"`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDuration: (text: string) => Option.Option<Duration.Duration> = DurationText.parse

const invalid = (text: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(text)))

const describe = (description: string, fallback: string | undefined) =>
  fallback === undefined ? description : `${description} (default: ${fallback})`

/**
 * An integer option of at least `min`, e.g. `--concurrency N`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const integer = (name: string, options: { readonly description: string; readonly min: number }) =>
  Options.text(name).pipe(
    Options.withPseudoName("N"),
    Options.withDescription(options.description),
    Options.mapEffect((text) => {
      const value = Number(text.trim())
      if (text.trim() === "" || !Number.isInteger(value)) return invalid(`--${name}: ${JSON.stringify(text)} is not an integer`)
      if (value < options.min) {
        return invalid(`--${name} must be ${options.min === 0 ? "0 or more" : `at least ${options.min}`}, got ${value}`)
      }
      return Effect.succeed(value)
    })
  )

/**
 * {@link integer} with a default, shown in the help.
 *
 * @since 0.2.0
 * @category constructors
 */
export const integerWithDefault = (
  name: string,
  options: { readonly description: string; readonly min: number; readonly fallback: number }
) =>
  integer(name, { ...options, description: describe(options.description, String(options.fallback)) }).pipe(
    Options.withDefault(options.fallback)
  )

/**
 * A duration option (`--timeout 30s`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const duration = (name: string, options: { readonly description: string; readonly fallback?: string }) =>
  Options.text(name).pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription(describe(options.description, options.fallback)),
    Options.mapEffect((text) =>
      Option.match(parseDuration(text), {
        onNone: () => invalid(`--${name} ${JSON.stringify(text)} is not a duration (try 30s, 5m, 2h, 7d)`),
        onSome: (value) => Effect.succeed(value)
      })
    )
  )

/**
 * A description that ends with the default: `"Maximum requests in flight (default: 64)"`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const withDefaultNote: (description: string, fallback: string | undefined) => string = describe
