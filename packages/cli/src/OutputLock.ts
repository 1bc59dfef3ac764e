/**
 * One run owns an output path at a time. `fastllm run ... -o OUTPUT` takes `OUTPUT.lock` before it
 * sends anything and gives it back when it ends; a second run on the same output fails at once
 * (exit 2) naming the run that holds it. A lock left by a run that was killed (`kill -9`, a power
 * cut) names a process that is gone: the next run takes it over.
 *
 * Why our own lock and not a package: `proper-lockfile` (the common one) decides staleness by the
 * lock's age and must refresh it on a timer; a run's lock is stale exactly when its process is
 * gone, which the pid in the lock answers at once (`process.kill(pid, 0)`), with no timer.
 *
 * How: the lock is created whole and atomically (`link` of a complete temporary file: it fails if
 * the lock exists). Taking over a stale lock happens under a short-lived guard file
 * (`OUTPUT.lock.takeover`, created exclusively), which re-reads the lock before removing it, so two
 * runs that find the same stale lock never both take it.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import { ConfigurationError } from "./CliError.js"
import * as FileErrors from "./FileErrors.js"

/**
 * What a lock file says about its owner.
 *
 * @since 0.2.0
 * @category models
 */
export class Owner extends Schema.Class<Owner>("Owner")({
  pid: Schema.Int,
  hostname: Schema.String,
  startedAt: Schema.String
}) {}

const decodeOwner = Schema.decodeUnknownEither(Schema.parseJson(Owner))

/**
 * The lock file of an output path.
 *
 * @since 0.2.0
 * @category constructors
 */
export const lockPath = (output: string): string => `${output}.lock`

/**
 * Whether a process with this pid is running on this machine (`EPERM`: it is, under another user).
 *
 * @since 0.2.0
 * @category predicates
 */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return FileErrors.code(error) === "EPERM"
  }
}

type Attempt =
  | { readonly _tag: "Taken" }
  | { readonly _tag: "Held"; readonly owner: Owner | undefined }
  | { readonly _tag: "Retry" }

const guardMaxAgeMillis = 10_000

const readOwner = (path: string): Either.Either<Owner | undefined, "missing"> => {
  try {
    const decoded = decodeOwner(fs.readFileSync(path, "utf8"))
    return Either.right(Either.getOrUndefined(decoded))
  } catch (error) {
    if (FileErrors.code(error) === "ENOENT") return Either.left("missing")
    throw error
  }
}

/** Removes the lock if it still names `stale`, under the takeover guard. */
const takeOver = (lock: string, stale: Owner): void => {
  const guard = `${lock}.takeover`
  let fd: number
  try {
    fd = fs.openSync(guard, "wx")
  } catch (error) {
    if (FileErrors.code(error) !== "EEXIST") throw error
    // another run is taking over now; a guard this old was left by a run killed mid-takeover
    const age = Date.now() - (fs.statSync(guard, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
    if (age > guardMaxAgeMillis) fs.rmSync(guard, { force: true })
    return
  }
  try {
    const now = readOwner(lock)
    if (Either.isRight(now) && now.right !== undefined && now.right.pid === stale.pid && now.right.startedAt === stale.startedAt) {
      fs.rmSync(lock, { force: true })
    }
  } finally {
    fs.closeSync(fd)
    fs.rmSync(guard, { force: true })
  }
}

const attempt = (lock: string, self: Owner): Attempt => {
  const temporary = `${lock}.${self.pid}.tmp`
  fs.writeFileSync(temporary, JSON.stringify(self))
  try {
    fs.linkSync(temporary, lock)
    return { _tag: "Taken" }
  } catch (error) {
    if (FileErrors.code(error) !== "EEXIST") throw error
  } finally {
    fs.rmSync(temporary, { force: true })
  }
  const current = readOwner(lock)
  if (Either.isLeft(current)) return { _tag: "Retry" } // released meanwhile
  const owner = current.right
  if (owner === undefined) {
    // not a lock we wrote: leave it to a person unless it is old
    const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
    if (age <= guardMaxAgeMillis) return { _tag: "Held", owner: undefined }
    fs.rmSync(lock, { force: true })
    return { _tag: "Retry" }
  }
  if (owner.hostname !== self.hostname || isAlive(owner.pid)) return { _tag: "Held", owner }
  takeOver(lock, owner)
  return { _tag: "Retry" }
}

const heldBy = (output: string, owner: Owner | undefined, hostname: string): ConfigurationError =>
  new ConfigurationError({
    reason: owner === undefined
      ? `Output ${output} is locked by ${lockPath(output)}, which is not a fastllm lock: remove it if no run uses ${output}`
      : owner.hostname === hostname
      ? `Output ${output} is in use by another fastllm run (pid ${owner.pid}, started ${owner.startedAt}): ` +
        "wait for it to end, stop it, or write to another path"
      : `Output ${output} is in use by a fastllm run on ${owner.hostname} (pid ${owner.pid}, started ${owner.startedAt}): ` +
        `if that run is gone, remove ${lockPath(output)}`
  })

/**
 * Takes the lock of `output` for the scope: fails with a `ConfigurationError` naming the other
 * run's pid when a live run holds it, takes over a lock whose process is gone, and releases it
 * when the scope closes (only if it is still ours).
 *
 * @since 0.2.0
 * @category constructors
 */
export const acquire = (output: string): Effect.Effect<Owner, ConfigurationError, Scope.Scope> => {
  const lock = lockPath(output)
  const self = new Owner({ pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() })
  const tryOnce = Effect.try({
    try: () => attempt(lock, self),
    catch: (error) => new ConfigurationError({ reason: `Cannot write output ${output}: ${FileErrors.describe(error)}` })
  })
  const loop = (tries: number): Effect.Effect<Owner, ConfigurationError> =>
    Effect.flatMap(tryOnce, (result) => {
      switch (result._tag) {
        case "Taken":
          return Effect.succeed(self)
        case "Held":
          return Effect.fail(heldBy(output, result.owner, self.hostname))
        case "Retry":
          return tries >= 100
            ? Effect.fail(new ConfigurationError({ reason: `Cannot take the lock ${lock}: it keeps changing` }))
            : Effect.zipRight(Effect.sleep("20 millis"), loop(tries + 1))
      }
    })
  return Effect.acquireRelease(loop(0), () =>
    Effect.try(() => {
      const current = readOwner(lock)
      if (Either.isRight(current) && current.right?.pid === self.pid && current.right.startedAt === self.startedAt) {
        fs.rmSync(lock, { force: true })
      }
    }).pipe(Effect.ignore))
}
