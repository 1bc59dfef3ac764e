/**
 * The errors of the `fastllm` command, each mapped to an exit code by `Cli.main`:
 * {@link ConfigurationError} (exit 2: nothing was sent), {@link ItemsFailed} (exit 1: the run
 * finished, some lines report a failure) and {@link OutputClosed} (exit 141, quietly: the reader of
 * standard output went away).
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
  total: Schema.Number,
  /** Whether the run used a cache (then a rerun sends only the failed items). */
  cached: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {
  override get message(): string {
    return `${this.failed} of ${this.total} items failed (see their error lines in the output)` +
      (this.cached ? ". Answered items are cached: rerun the same command to retry only the failed ones." : "")
  }
}

/**
 * Standard output was closed by its reader (`fastllm run x.jsonl | head`): the run stops quietly,
 * like any Unix tool, and exits 141 (128 + SIGPIPE). Answers received so far are cached.
 *
 * @since 0.2.0
 * @category errors
 */
export class OutputClosed extends Schema.TaggedError<OutputClosed>()("OutputClosed", {}) {
  override get message(): string {
    return "standard output was closed by its reader"
  }
}

/**
 * The exit code of an error of the command: 1 for {@link ItemsFailed}, 141 for
 * {@link OutputClosed}, 2 for everything else (usage and configuration errors).
 *
 * @since 0.2.0
 * @category exit codes
 */
export const exitCode = (error: ConfigurationError | ItemsFailed | OutputClosed): 1 | 2 | 141 =>
  error._tag === "ItemsFailed" ? 1 : error._tag === "OutputClosed" ? 141 : 2
