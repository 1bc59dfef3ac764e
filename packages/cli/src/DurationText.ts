/**
 * Durations as the command line takes them: `30` (seconds), `500ms`, `30s`, `5m`, `2h`, `7d`, or
 * Effect's `"30 seconds"`. Its own module so that every command can parse them without importing
 * another command.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/**
 * Parses a duration flag's text; none when it is not a duration.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (text: string): Option.Option<Duration.Duration> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (match !== null) {
    const value = Number(match[1])
    const unit = match[2] ?? "s"
    const millis = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : unit === "h" ? 3_600_000 : 86_400_000
    return Option.some(Duration.millis(value * millis))
  }
  const long = /^\s*(\d+(?:\.\d+)?)\s+(millis|seconds?|minutes?|hours?|days?|weeks?)\s*$/.exec(text)
  if (long !== null) return Option.some(Duration.decode(`${Number(long[1])} ${long[2]}` as Duration.DurationInput))
  return Option.none()
}
