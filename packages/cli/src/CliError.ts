/**
 * The errors of the `fastllm` command, each mapped to an exit code by `Cli.main`:
 * {@link ConfigurationError} (exit 2: nothing was sent) and {@link ItemsFailed} (exit 1: the run
 * finished, some lines report a failure).
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"

/**
 * A problem with the command line or the environment (unreadable input, unwritable output, bad
 * option, output path in use by another run): the run does not start, and the CLI exits with
 * code 2.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigurationError extends Schema.TaggedError<ConfigurationError>()("ConfigurationError", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * The run finished but some items failed (exit code 1).
 *
 * @since 0.1.0
 * @category errors
 */
export class ItemsFailed extends Schema.TaggedError<ItemsFailed>()("ItemsFailed", {
  failed: Schema.Number,
  total: Schema.Number
}) {
  override get message(): string {
    return `${this.failed} of ${this.total} items failed (see their error lines in the output)`
  }
}

/**
 * The exit code of an error of the command: 1 for {@link ItemsFailed}, 2 for everything else
 * (usage and configuration errors).
 *
 * @since 0.2.0
 * @category exit codes
 */
export const exitCode = (error: ConfigurationError | ItemsFailed): 1 | 2 => error._tag === "ItemsFailed" ? 1 : 2
