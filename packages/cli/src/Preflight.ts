/**
 * The checks a run makes before its first request: every path it will write (the output, the
 * `--stats-json` file, the cache directory) is writable now, so a run never spends its API budget
 * and then fails to write. Each check really writes (a probe file it removes), because permission
 * bits do not tell about read-only mounts, full disks or root.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ConfigurationError } from "./CliError.js"
import * as FileErrors from "./FileErrors.js"

const fail = (what: string, error: unknown) => new ConfigurationError({ reason: `${what}: ${FileErrors.describe(error)}` })

const probe = (directory: string): void => {
  const file = path.join(directory, `.fastllm-probe-${process.pid}`)
  fs.writeFileSync(file, "")
  fs.rmSync(file, { force: true })
}

/**
 * Checks that `file` can be written (its directory exists and takes a new file, or the file
 * exists and opens for writing), without changing it.
 *
 * @since 0.2.0
 * @category checks
 */
export const writableFile = (file: string, what: string): Effect.Effect<void, ConfigurationError> =>
  Effect.try({
    try: () => {
      const info = fs.statSync(file, { throwIfNoEntry: false })
      if (info?.isDirectory() === true) throw Object.assign(new Error("is a directory"), { code: "EISDIR" })
      if (info === undefined) {
        const directory = path.dirname(path.resolve(file))
        if (fs.statSync(directory).isDirectory() !== true) {
          throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" })
        }
        probe(directory)
      } else {
        fs.closeSync(fs.openSync(file, "r+"))
      }
    },
    catch: (error) => fail(`${what} ${file}`, error)
  })

/**
 * `mkdir -p`, one level at a time: Node's recursive `mkdir` reports a read-only file system as
 * ENOENT ("no such file or directory"), which sends a person looking for a typo.
 */
const makeDirectory = (directory: string): void => {
  const info = fs.statSync(directory, { throwIfNoEntry: false })
  if (info !== undefined) {
    if (!info.isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" })
    return
  }
  const parent = path.dirname(directory)
  if (parent !== directory) makeDirectory(parent)
  fs.mkdirSync(directory)
}

/**
 * Checks that `directory` exists or can be made, and takes a new file.
 *
 * @since 0.2.0
 * @category checks
 */
export const writableDirectory = (directory: string, what: string): Effect.Effect<void, ConfigurationError> =>
  Effect.try({
    try: () => {
      makeDirectory(path.resolve(directory))
      probe(directory)
    },
    catch: (error) => fail(`${what} ${directory}`, error)
  })
