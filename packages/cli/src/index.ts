/**
 * The `fastllm` command: JSONL batches in, JSONL results out, with progress, cache and resume.
 * Its parts are public so that a program can run a batch file the way the CLI does.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AutoProvider from "./AutoProvider.js"
/** @since 0.1.0 */
export * as BatchFile from "./BatchFile.js"
/** @since 0.1.0 */
export * as BatchLine from "./BatchLine.js"
/** @since 0.1.0 */
export * as Cli from "./Cli.js"
/** @since 0.2.0 */
export * as CliError from "./CliError.js"
/** @since 0.2.0 */
export * as CustomIds from "./CustomIds.js"
/** @since 0.2.0 */
export * as FileErrors from "./FileErrors.js"
/** @since 0.2.0 */
export * as Flags from "./Flags.js"
/** @since 0.2.0 */
export * as HeaderFlag from "./HeaderFlag.js"
/** @since 0.2.0 */
export * as HelpConsole from "./HelpConsole.js"
/** @since 0.2.0 */
export * as InputFile from "./InputFile.js"
/** @since 0.1.0 */
export * as MockServer from "./MockServer.js"
/** @since 0.2.0 */
export * as OutputLock from "./OutputLock.js"
/** @since 0.2.0 */
export * as Preflight from "./Preflight.js"
/** @since 0.1.0 */
export * as Progress from "./Progress.js"
/** @since 0.2.0 */
export * as RunCommand from "./RunCommand.js"
/** @since 0.2.0 */
export * as Typos from "./Typos.js"
/** @since 0.2.0 */
export * as View from "./View.js"
