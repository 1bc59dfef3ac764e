/**
 * Where a run's lines come from: a regular file (read twice: once to count its lines for the
 * progress bar and ETA, then to run them), or a stream that can be read only once: `-` (standard
 * input), `/dev/stdin`, a named pipe or a process substitution (`<(head -5 x.jsonl)`). A stream
 * has no known total, so its progress shows no ETA. A crashed run over a stream resumes only when
 * the same lines are piped in again.
 *
 * @since 0.2.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { ConfigurationError } from "./CliError.js"
import * as FileErrors from "./FileErrors.js"

/**
 * The input name that means standard input.
 *
 * @since 0.2.0
 * @category constants
 */
export const stdin = "-"

/**
 * Standard input as a path (`fastllm run -` is read through it).
 *
 * @since 0.2.0
 * @category constants
 */
export const devStdin = "/dev/stdin"

/**
 * Whether an input names standard input: `-` or `/dev/stdin` (read from the process's stdin
 * itself: opening /dev/stdin fails when stdin is a socket, as under some process managers).
 *
 * @since 0.2.0
 * @category predicates
 */
export const isStdin = (input: string): boolean => input === stdin || input === devStdin

/**
 * What an input is: a `File` to read (and count) from disk, or a `Stream` read once.
 *
 * @since 0.2.0
 * @category models
 */
export type Kind = "File" | "Stream"

const cannotRead = (input: string, error: unknown) =>
  new ConfigurationError({
    reason: `Cannot read input ${isStdin(input) ? "(stdin)" : input}: ${FileErrors.describe(error)}`
  })

/**
 * Checks that the input can be read and says what it is.
 *
 * @since 0.2.0
 * @category constructors
 */
export const kind = (input: string): Effect.Effect<Kind, ConfigurationError, FileSystem.FileSystem> =>
  isStdin(input)
    ? Effect.succeed("Stream")
    : Effect.flatMap(FileSystem.FileSystem, (fileSystem) =>
      fileSystem.stat(input).pipe(
        Effect.mapError((error) => cannotRead(input, error)),
        Effect.flatMap((info) =>
          info.type === "File"
            ? Effect.succeed<Kind>("File")
            : info.type === "FIFO" || info.type === "CharacterDevice" || info.type === "Socket"
            ? Effect.succeed<Kind>("Stream")
            : Effect.fail(new ConfigurationError({ reason: `Cannot read input ${input}: not a file (${info.type})` }))
        )
      ))

/**
 * The input's bytes, read once, in chunks.
 *
 * @since 0.2.0
 * @category constructors
 */
export const bytes = (
  input: string,
  inputKind: Kind
): Stream.Stream<Uint8Array, ConfigurationError, FileSystem.FileSystem> => {
  if (isStdin(input)) return NodeStream.fromReadable(() => process.stdin, (error) => cannotRead(input, error))
  if (inputKind === "Stream") {
    return NodeStream.fromReadable(() => fs.createReadStream(input), (error) => cannotRead(input, error))
  }
  return Stream.unwrap(Effect.flatMap(FileSystem.FileSystem, (fileSystem) =>
    // A file of at most one chunk is one `readFile` (one chunk, as the stream would give) instead of
    // the stream's open/read/close set-up and its 256 kB buffer: a one-line run's fixed cost
    // (`node bench/startupPhases.mjs --runs 31 before=... after=...`); bigger files stream as before.
    fileSystem.stat(input).pipe(
      Effect.map((info) =>
        Number(info.size) <= chunkSize
          ? Stream.fromEffect(fileSystem.readFile(input))
          : fileSystem.stream(input, { chunkSize })
      ),
      Effect.map(Stream.mapError((error) => cannotRead(input, error))),
      Effect.mapError((error) => cannotRead(input, error))
    )))
}

const chunkSize = 256 * 1024
