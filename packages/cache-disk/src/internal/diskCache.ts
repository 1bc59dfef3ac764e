/**
 * The LMDB implementation behind `DiskCache`.
 *
 * @internal
 */
import { Cache, LLMError } from "@fastllm/core"
import type { ApiRequest } from "@fastllm/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { open } from "lmdb"
import type { Database, RootDatabase } from "lmdb"
import * as Entry from "./entry.js"
import * as LmdbFile from "./lmdbFile.js"

/** Options of the disk cache (documented on the public `Options`). @internal */
export interface Options {
  readonly path: string
  readonly timeToLive?: Duration.DurationInput | undefined
  readonly maxEntries?: number | undefined
  readonly durability?: "commit" | "flush" | undefined
  readonly writeTimeout?: Duration.DurationInput | undefined
}

/** The disk cache service (documented on the public `DiskCache.Service`). @internal */
export interface Service extends Cache.Cache.Service {
  readonly path: string
  readonly size: Effect.Effect<number, LLMError.CacheError>
  readonly prune: Effect.Effect<number, LLMError.CacheError>
}

const FORMAT_KEY = "format"
const FORMAT_NAME = "fastllm-cache"
/** @internal */
export const ENTRIES_DB = "fastllm-entries"
const META_DB = "fastllm-meta"
/**
 * Page size of new stores. Responses are typically 1–2 KB, and LMDB splits 4 KB pages holding such
 * nodes down to one entry per page (measured: 4.0 KB on disk per 1.4 KB entry); 8 KB pages hold
 * several (2.0 KB per entry). Existing stores keep the page size they were made with.
 */
const PAGE_SIZE = 8_192
/** Removals are committed in chunks so a prune never holds the write lock for long. */
const REMOVE_CHUNK = 2_000

const expiryFrom = (now: number, timeToLive: Duration.DurationInput | undefined): number => {
  if (timeToLive === undefined) return Number.POSITIVE_INFINITY
  const duration = Duration.decode(timeToLive)
  return Duration.isFinite(duration) ? now + Duration.toMillis(duration) : Number.POSITIVE_INFINITY
}

const entryCount = (db: Database<Buffer, string>): number => {
  const stats: unknown = db.getStats()
  if (typeof stats === "object" && stats !== null && "entryCount" in stats && typeof stats.entryCount === "number") {
    return stats.entryCount
  }
  throw new Error("LMDB returned no entry count")
}

/**
 * Removes `keys` whose current bytes still satisfy `stillRemovable`, re-checked inside each write
 * transaction: an entry another process rewrote meanwhile is left alone.
 */
const removeWhere = async (
  db: Database<Buffer, string>,
  keys: ReadonlyArray<string>,
  stillRemovable: (bytes: Buffer) => boolean
): Promise<number> => {
  let removed = 0
  for (let start = 0; start < keys.length; start += REMOVE_CHUNK) {
    const chunk = keys.slice(start, start + REMOVE_CHUNK)
    removed += await db.transaction(() => {
      let n = 0
      for (const key of chunk) {
        const bytes = db.getBinaryFast(key)
        if (bytes !== undefined && stillRemovable(bytes)) {
          db.removeSync(key)
          n++
        }
      }
      return n
    })
  }
  return removed
}

/**
 * A failed commit rejects each write of the transaction with "Commit failed (see commitError for
 * details)" and puts the real error (ENOSPC, EIO...) in a separate promise, `commitError`, which
 * nobody else handles: left alone, it is an unhandled rejection that ends the process. Handle it
 * and fail with the real error instead.
 */
const withCommitError = <A>(write: Promise<A>, onFailure: () => void): Promise<A> =>
  write.catch((error: unknown) => {
    onFailure()
    const inner = typeof error === "object" && error !== null && "commitError" in error ? error.commitError : undefined
    if (inner === undefined || inner === null) throw error
    // The real error, if lmdb-js delivers it soon (measured: sometimes it never settles).
    const cause = Promise.resolve(inner).then(() => error, (cause: unknown) => cause)
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<unknown>((resolve) => {
      timer = setTimeout(() => resolve(error), COMMIT_ERROR_WAIT_MS)
    })
    return Promise.race([cause, late]).then((reason) => {
      clearTimeout(timer)
      throw reason
    })
  })

const COMMIT_ERROR_WAIT_MS = 200

const CLOSE_AFTER_FAILURE_MS = 1_000

/**
 * Fails `write` when it has not settled within `ms` of real time (not the Effect Clock: this
 * guards against lmdb-js, whose write promises can stay pending forever once a commit has failed
 * on a full disk).
 */
const withDeadline = <A>(write: Promise<A>, ms: number): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the write was not committed within ${ms} ms (is the disk full or failing?)`)),
      ms
    )
  })
  return Promise.race([write, deadline]).finally(() => clearTimeout(timer))
}

/** Entries read per step of a full scan; between steps the event loop runs. */
const SCAN_CHUNK = 10_000

/**
 * Visits every entry in key order, in chunks of {@link SCAN_CHUNK} with a pause for the event loop
 * between them (a million entries take ~3 s to scan, which must not freeze the process). The bytes
 * are only valid during the call. Entries written during the scan may or may not be visited.
 *
 * @internal
 */
export const scan = async (
  db: Database<Buffer, string>,
  visit: (key: string, bytes: Buffer) => void,
  chunk: number = SCAN_CHUNK
): Promise<void> => {
  let after: string | undefined
  for (;;) {
    let count = 0
    let last: string | undefined
    const range = after === undefined ? db.getRange({ limit: chunk }) : db.getRange({ start: after, limit: chunk + 1 })
    for (const { key, value } of range) {
      if (key === after) continue
      visit(key, value)
      last = key
      count++
    }
    if (last === undefined || count < chunk) return
    after = last
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/** @internal */
export const make = (options: Options): Effect.Effect<Service, LLMError.CacheError, Scope.Scope> =>
  Effect.gen(function*() {
    const fail = (operation: string, reason: string, path: string) =>
      new LLMError.CacheError({ operation, reason, path })

    const location = LmdbFile.locate(options.path)
    if (location instanceof LmdbFile.FileProblem) return yield* fail("open", location.reason, location.path)
    const dataFile = location.dataFile
    const problem = LmdbFile.validate(dataFile)
    if (problem !== undefined) return yield* fail("open", problem.reason, problem.path)

    // After the scope closes, lmdb-js neither resolves nor rejects writes (it throws later, outside
    // any promise): refuse every operation up front instead.
    let closed = false
    // After a failed commit, lmdb-js's close() never settles (it waits for a flush that will not
    // come): close then waits at most CLOSE_AFTER_FAILURE_MS.
    let writeFailed = false
    const writeTimeoutMs = Math.max(1, Duration.toMillis(Duration.decode(options.writeTimeout ?? "30 seconds")))
    const onWriteFailure = () => {
      writeFailed = true
    }
    const { entries, meta, root } = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const root: RootDatabase = open({
            path: dataFile,
            noSubdir: true,
            maxDbs: 4,
            pageSize: PAGE_SIZE,
            // With event-turn batching, each batch starts with an internal write whose promise
            // nobody holds: when that transaction fails (disk full), its rejection is unhandled and
            // ends the process. Without it, writes are still batched (committed on the next turn).
            eventTurnBatching: false
          })
          try {
            const meta = root.openDB<string, string>({ name: META_DB, encoding: "string" })
            const entries = root.openDB<Buffer, string>({ name: ENTRIES_DB, encoding: "binary" })
            return { root, meta, entries }
          } catch (error) {
            void root.close()
            throw error
          }
        },
        catch: (error) => fail("open", LmdbFile.describe(error), dataFile)
      }),
      ({ root }) =>
        Effect.promise(() => {
          closed = true
          const closing = root.close().catch(() => undefined)
          return writeFailed
            ? Promise.race([closing, new Promise<void>((resolve) => setTimeout(resolve, CLOSE_AFTER_FAILURE_MS))])
            : closing
        })
    )

    const closedError = (operation: string) => fail(operation, "the cache is closed (its scope has ended)", dataFile)
    /** A write, bounded by `writeTimeout` unless `bounded` is false (full scans: prune, eviction). */
    const tryPromise = <A>(operation: string, f: () => Promise<A>, bounded = true) =>
      Effect.suspend(() =>
        closed ? Effect.fail(closedError(operation)) : Effect.tryPromise({
          try: () => withCommitError(bounded ? withDeadline(f(), writeTimeoutMs) : f(), onWriteFailure),
          catch: (error) => fail(operation, LmdbFile.describe(error, dataFile), dataFile)
        })
      )
    const trySync = <A>(operation: string, f: () => A) =>
      Effect.suspend(() =>
        closed ? Effect.fail(closedError(operation)) : Effect.try({
          try: f,
          catch: (error) => fail(operation, LmdbFile.describe(error), dataFile)
        })
      )

    // Mark the store as ours, or refuse a store some other program made.
    const format = yield* trySync("open", () => meta.get(FORMAT_KEY))
    if (format === undefined) {
      yield* tryPromise("open", () => meta.put(FORMAT_KEY, `${FORMAT_NAME}/${Entry.FORMAT_VERSION}`))
    } else if (!format.startsWith(`${FORMAT_NAME}/`)) {
      return yield* fail("open", `not an LMDB cache file (corrupt or foreign): it is marked "${format}"`, dataFile)
    }

    // A write is acknowledged when its transaction commits ("commit": survives a killed process)
    // or, with "flush", once the commit is also synced to the disk (survives power loss).
    const durable = <A>(write: Promise<A>): Promise<A> =>
      options.durability === "flush" ? write.then((a) => root.flushed.then(() => a)) : write

    const maxEntries = options.maxEntries === undefined ? undefined : Math.max(1, Math.floor(options.maxEntries))
    // Evict down to 90% of the bound, so that a full store scans once per 10% of its size.
    const evictTarget = maxEntries === undefined ? 0 : Math.floor(maxEntries * 0.9)
    let evicting: Promise<number> | undefined

    const evictOldest = async (): Promise<number> => {
      if (maxEntries === undefined) return 0
      const count = entryCount(entries)
      if (count <= maxEntries) return 0
      const ages: Array<{ readonly key: string; readonly writtenAt: number }> = []
      await scan(entries, (key, value) => {
        ages.push({ key, writtenAt: Entry.isCurrentFormat(value) ? Entry.writtenAt(value) : Number.NEGATIVE_INFINITY })
      })
      ages.sort((a, b) => a.writtenAt - b.writtenAt)
      const victims = ages.slice(0, Math.max(0, ages.length - evictTarget))
      const cutoff = victims.length === 0 ? Number.NEGATIVE_INFINITY : victims[victims.length - 1]!.writtenAt
      return removeWhere(
        entries,
        victims.map((victim) => victim.key),
        (bytes) => !Entry.isCurrentFormat(bytes) || Entry.writtenAt(bytes) <= cutoff
      )
    }

    const maybeEvict = maxEntries === undefined ? Effect.void : Effect.suspend(() => {
      if (evicting !== undefined) return Effect.void
      return tryPromise("evict", () => {
        evicting = evictOldest().finally(() => {
          evicting = undefined
        })
        return evicting
      }, false)
    })

    /**
     * Lazy purge of a stale entry, re-checked in the write transaction (another process may have
     * rewritten it). Awaited, so a miss leaves the store clean; it only happens on the miss path,
     * which an API call follows anyway. A failure here is logged, the read is still a miss.
     */
    const purge = (key: string, now: number) =>
      tryPromise("purge", () => removeWhere(entries, [key], (bytes) => Entry.read(bytes, now)._tag !== "Hit")).pipe(
        Effect.catchAll((error) => Effect.logDebug(error.message)),
        Effect.asVoid
      )

    const get = (key: string): Effect.Effect<Option.Option<ApiRequest.ApiResponse>, LLMError.CacheError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (closed) return Effect.fail(closedError("get"))
        let read: Entry.Read | undefined
        try {
          const bytes = entries.getBinaryFast(Entry.storageKey(key))
          if (bytes === undefined) return Effect.succeedNone
          read = Entry.read(bytes, now)
        } catch (error) {
          return Effect.fail(fail("get", LmdbFile.describe(error), dataFile))
        }
        return read._tag === "Hit" ? Effect.succeedSome(read.value) : Effect.as(purge(Entry.storageKey(key), now), Option.none())
      })

    /** `get` on the spot: a hit or an absent entry; anything else (expired, unreadable, an error) is left to `get`. */
    const unsafeGet = (key: string, now: number): Option.Option<ApiRequest.ApiResponse> | undefined => {
      if (closed) return undefined
      try {
        const bytes = entries.getBinaryFast(Entry.storageKey(key))
        if (bytes === undefined) return Option.none()
        const read = Entry.read(bytes, now)
        return read._tag === "Hit" ? Option.some(read.value) : undefined
      } catch {
        return undefined
      }
    }

    const set: Service["set"] = (key, value, setOptions) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const encoded = Entry.encode(value, expiryFrom(now, setOptions?.timeToLive ?? options.timeToLive), now)
        if (Either.isLeft(encoded)) return Effect.fail(fail("set", encoded.left, dataFile))
        const bytes = encoded.right
        const storedKey = Entry.storageKey(key)
        const written = tryPromise("set", () =>
          durable(entries.put(storedKey, bytes)).then(() => {
            // Read back before acknowledging. Measured with lmdb 3.5.6 on a full disk: a few puts
            // of a failed commit resolved as if committed, and were not in the store after reopen.
            // An entry that is there now is committed (another writer may have replaced it since:
            // fine); one that is not was lost.
            if (entries.getBinaryFast(storedKey) === undefined) {
              throw new Error("Commit failed: the entry is not in the store after its commit")
            }
          })
        )
        return maxEntries === undefined ? Effect.asVoid(written) : Effect.zipRight(written, maybeEvict)
      })

    const remove: Service["delete"] = (key) =>
      Effect.asVoid(tryPromise("delete", () => durable(entries.remove(Entry.storageKey(key)))))

    const clear: Service["clear"] = Effect.asVoid(tryPromise("clear", () => durable(entries.clearAsync())))

    const size: Service["size"] = trySync("size", () => entryCount(entries))

    const prune: Service["prune"] = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      tryPromise("prune", async () => {
        const stale: Array<string> = []
        await scan(entries, (key, value) => {
          if (Entry.isStale(value, now)) stale.push(key)
        })
        return durable(removeWhere(entries, stale, (bytes) => Entry.isStale(bytes, now)))
      }, false))

    return { path: dataFile, get, unsafeGet, set, delete: remove, clear, size, prune }
  })
