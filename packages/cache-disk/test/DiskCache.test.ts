import { assert, describe, it } from "@effect/vitest"
import { DiskCache } from "@fastllm/cache-disk"
import { Cache, LLMError } from "@fastllm/core"
import { cacheContract, chatResponse, embeddingResponse } from "@fastllm/core/testing"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { open } from "lmdb"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ENTRIES_DB, scan } from "../src/internal/diskCache.js"
import * as Entry from "../src/internal/entry.js"
import * as LmdbFile from "../src/internal/lmdbFile.js"
import { responseFor } from "./fixtures/response.js"

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures")

/** A fresh temp dir, removed (with the store in it) when the scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-disk-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

cacheContract("DiskCache", (options) =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => DiskCache.layer({ path: path.join(dir, "cache"), ...options }))))

const openError = (options: DiskCache.Options) =>
  Effect.scoped(DiskCache.make(options)).pipe(
    Effect.flip,
    Effect.map((error) => {
      assert.instanceOf(error, LLMError.CacheError)
      assert.strictEqual(error.operation, "open")
      return error
    })
  )

/** Writes raw bytes under a key with LMDB directly, as another (older or newer) version would. */
const writeRaw = (dataFile: string, entries: ReadonlyArray<readonly [string, Buffer]>) =>
  Effect.promise(async () => {
    const root = open({ path: dataFile, noSubdir: true, maxDbs: 4 })
    const db = root.openDB<Buffer, string>({ name: ENTRIES_DB, encoding: "binary" })
    for (const [key, bytes] of entries) await db.put(key, bytes)
    await root.close()
  })

interface ChildResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const runFixture = (
  script: string,
  args: ReadonlyArray<string>,
  killWhen?: (stdout: string) => boolean,
  fileSizeLimitBlocks?: number
) =>
  Effect.async<ChildResult>((resume) => {
    const command = [process.execPath, "--import", "tsx", path.join(fixtures, script), ...args]
    const child = fileSizeLimitBlocks === undefined
      ? spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] })
      : spawn("/bin/sh", ["-c", `ulimit -f ${fileSizeLimitBlocks} && exec "$@"`, "sh", ...command], {
        stdio: ["ignore", "pipe", "pipe"]
      })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      if (killWhen !== undefined && child.exitCode === null && killWhen(stdout)) child.kill("SIGKILL")
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("DiskCache", () => {
  it.scoped("entries survive closing and reopening the store", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.scoped(Effect.gen(function*() {
        const cache = yield* DiskCache.make({ path: dir })
        yield* cache.set("chat", chatResponse("chat"))
        yield* cache.set("embedding", embeddingResponse(7))
      }))
      const cache = yield* DiskCache.make({ path: dir })
      assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get("chat")), chatResponse("chat"))
      assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get("embedding")), embeddingResponse(7))
      assert.strictEqual(yield* cache.size, 2)
      assert.strictEqual(cache.path, path.join(dir, "cache.mdb"))
    }))

  it.scoped("an existing data file can be given as the path", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.scoped(
        Effect.flatMap(DiskCache.make({ path: dir }), (cache) => cache.set("k", chatResponse("k")))
      )
      const cache = yield* DiskCache.make({ path: path.join(dir, "cache.mdb") })
      assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get("k")), chatResponse("k"))
    }))

  it.scoped("expiry is absolute across reopen; prune removes expired entries and counts them", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.scoped(Effect.gen(function*() {
        const cache = yield* DiskCache.make({ path: dir, timeToLive: Duration.minutes(10) })
        yield* cache.set("a", chatResponse("a"), { timeToLive: Duration.minutes(1) })
        yield* cache.set("b", chatResponse("b"), { timeToLive: Duration.minutes(1) })
        yield* cache.set("c", chatResponse("c"))
      }))
      yield* TestClock.adjust(Duration.minutes(2))
      const cache = yield* DiskCache.make({ path: dir })
      assert.strictEqual(yield* cache.size, 3)
      assert.strictEqual(yield* cache.prune, 2)
      assert.strictEqual(yield* cache.size, 1)
      assert.strictEqual(yield* cache.prune, 0)
      assert.isTrue(Option.isSome(yield* cache.get("c")))
      yield* TestClock.adjust(Duration.minutes(9))
      assert.strictEqual(yield* cache.prune, 1)
      assert.strictEqual(yield* cache.size, 0)
    }))

  it.scoped("an expired entry is purged when read", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const cache = yield* DiskCache.make({ path: dir, timeToLive: "1 second" })
      yield* cache.set("k", chatResponse("k"))
      yield* cache.set("other", chatResponse("other"), { timeToLive: "1 hour" })
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(Option.isNone(yield* cache.get("k")))
      assert.strictEqual(yield* cache.size, 1)
    }))

  it.scoped("entries of an unknown format version, or that do not decode, are misses and are removed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const dataFile = path.join(dir, "cache.mdb")
      yield* Effect.scoped(DiskCache.make({ path: dir }))
      const valid = Either.getOrThrow(Entry.encode(chatResponse("v"), Number.POSITIVE_INFINITY, 0))
      const header = valid.subarray(0, Entry.HEADER_BYTES)
      const future = Buffer.from(valid)
      future[2] = 99 // a format version from the future
      // written by another version of the ApiResponse schema: these bodies go through Schema.decode
      const otherSchema = Buffer.from(valid)
      otherSchema.writeUInt32LE((Entry.SCHEMA_ID + 1) >>> 0, 4)
      const wrongShape = Buffer.concat([
        otherSchema.subarray(0, Entry.HEADER_BYTES),
        Buffer.from(JSON.stringify({ _tag: "Chat", response: { id: 1 } }))
      ])
      yield* writeRaw(dataFile, [
        ["future", future],
        ["garbage", Buffer.from([1, 2, 3])],
        ["bad-json", Buffer.concat([header, Buffer.from("{nope")])],
        ["not-a-response", Buffer.concat([header, Buffer.from("[1,2]")])],
        ["wrong-shape", wrongShape],
        ["other-schema", otherSchema],
        ["valid", valid]
      ])
      const cache = yield* DiskCache.make({ path: dir })
      for (const key of ["future", "garbage", "bad-json", "not-a-response", "wrong-shape"]) {
        assert.isTrue(Option.isNone(yield* cache.get(key)), key)
      }
      assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get("valid")), chatResponse("v"))
      assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get("other-schema")), chatResponse("v"))
      assert.strictEqual(yield* cache.size, 2)
      // the fast path (no Schema.decode for this schema's own entries) is on for ApiResponse
      assert.isTrue(Entry.ENCODING_IS_IDENTITY)
    }))

  it.scoped("maxEntries evicts the oldest-written entries down to 90% of the bound", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const cache = yield* DiskCache.make({ path: dir, maxEntries: 20 })
      for (let i = 0; i < 20; i++) {
        yield* cache.set(`k${i}`, chatResponse(`k${i}`))
        yield* TestClock.adjust("1 millis")
      }
      // rewriting k0 makes it the newest
      yield* cache.set("k0", chatResponse("k0-again"))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* cache.size, 20)
      yield* cache.set("k20", chatResponse("k20"))
      assert.strictEqual(yield* cache.size, 18)
      for (const key of ["k1", "k2", "k3"]) assert.isTrue(Option.isNone(yield* cache.get(key)), key)
      for (const key of ["k0", "k4", "k19", "k20"]) assert.isTrue(Option.isSome(yield* cache.get(key)), key)
    }))

  it.scoped("operations after the store is closed fail with a CacheError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const cache = yield* Effect.scoped(DiskCache.make({ path: dir }))
      const errors = yield* Effect.all([
        Effect.flip(cache.get("k")),
        Effect.flip(cache.set("k", chatResponse("k"))),
        Effect.flip(cache.size)
      ])
      for (const error of errors) {
        assert.strictEqual(error._tag, "CacheError")
        assert.strictEqual(error.path, path.join(dir, "cache.mdb"))
      }
    }))

  it.scoped("a full scan in chunks visits every entry once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const visited = yield* Effect.promise(async () => {
        const root = open({ path: path.join(dir, "scan.mdb"), noSubdir: true, maxDbs: 4 })
        const db = root.openDB<Buffer, string>({ name: ENTRIES_DB, encoding: "binary" })
        await Promise.all(Array.from({ length: 50 }, (_, i) => db.put(`k${String(i).padStart(2, "0")}`, Buffer.from([i]))))
        const seen: Array<string> = []
        for (const chunk of [7, 10, 49, 50, 51]) {
          await scan(db, (key, bytes) => seen.push(`${chunk}:${key}:${bytes[0]}`), chunk)
        }
        await root.close()
        return seen
      })
      for (const chunk of [7, 10, 49, 50, 51]) {
        const keys = visited.filter((line) => line.startsWith(`${chunk}:`))
        assert.deepStrictEqual(keys, Array.from({ length: 50 }, (_, i) => `${chunk}:k${String(i).padStart(2, "0")}:${i}`))
      }
    }))

  it.scoped("durability flush acknowledges after the sync", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const cache = yield* DiskCache.make({ path: dir, durability: "flush" })
      yield* Effect.forEach(["a", "b", "c"], (key) => cache.set(key, chatResponse(key)), { concurrency: 3 })
      yield* cache.delete("b")
      assert.strictEqual(yield* cache.size, 2)
    }))

  it.scoped("the layer provides both Cache and DiskCache over one store", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const cache = yield* Cache.Cache
        const disk = yield* DiskCache.DiskCache
        yield* cache.set("k", chatResponse("k"))
        assert.strictEqual(yield* disk.size, 1)
      }).pipe(Effect.provide(DiskCache.layer({ path: dir })))
    }))

  it.scoped("layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* Effect.gen(function*() {
        const cache = yield* Cache.Cache
        const disk = yield* DiskCache.DiskCache
        yield* cache.set("k", chatResponse("k"))
        yield* TestClock.adjust("3 seconds")
        assert.isTrue(Option.isNone(yield* cache.get("k")))
        assert.strictEqual(disk.path, path.join(dir, "from-config", "cache.mdb"))
      }).pipe(
        Effect.provide(DiskCache.layerConfig({
          path: Config.string("CACHE_PATH"),
          timeToLive: Config.duration("CACHE_TTL")
        })),
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["CACHE_PATH", path.join(dir, "from-config")], ["CACHE_TTL", "2 seconds"]]))
        )
      )
    }))

  describe("bad states are CacheErrors naming the path and the cause", () => {
    it.scoped("with a fallback layer, a bad path runs on without the cache", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        fs.writeFileSync(path.join(dir, "file.txt"), "not a directory")
        const logged: Array<string> = []
        const CacheLive = DiskCache.layer({ path: path.join(dir, "file.txt", "cache") }).pipe(
          Layer.catchAll((error) =>
            Layer.merge(Cache.none, Layer.effectDiscard(Effect.sync(() => logged.push(error.message))))
          )
        )
        const found = yield* Effect.flatMap(Cache.Cache, (cache) =>
          Effect.zipRight(cache.set("k", chatResponse("k")), cache.get("k"))).pipe(Effect.provide(CacheLive))
        assert.isTrue(Option.isNone(found))
        assert.strictEqual(logged.length, 1)
        assert.include(logged[0], path.join(dir, "file.txt", "cache"))
      }))


    it.scoped("garbage where the data file goes", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const dataFile = path.join(dir, "cache.mdb")
        fs.writeFileSync(dataFile, Buffer.alloc(20_000, 7))
        const error = yield* openError({ path: dir })
        assert.strictEqual(error.path, dataFile)
        assert.include(error.message, dataFile)
        assert.include(error.reason, "not an LMDB cache file (corrupt or foreign)")
      }))

    it.scoped("a foreign file given as the path", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const file = path.join(dir, "notes.json")
        fs.writeFileSync(file, JSON.stringify({ hello: "world" }).repeat(500))
        const error = yield* openError({ path: file })
        assert.strictEqual(error.path, file)
        assert.include(error.reason, "corrupt or foreign")
      }))

    it.scoped("a truncated store", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const dataFile = path.join(dir, "cache.mdb")
        yield* Effect.scoped(Effect.flatMap(DiskCache.make({ path: dir }), (cache) =>
          Effect.forEach(Array.from({ length: 500 }, (_, i) => `k${i}`), (key) =>
            cache.set(key, chatResponse(key)), { concurrency: "unbounded", discard: true })))
        const size = fs.statSync(dataFile).size
        fs.truncateSync(dataFile, Math.floor(size / 2))
        const error = yield* openError({ path: dir })
        assert.strictEqual(error.path, dataFile)
        assert.include(error.reason, "truncated")
      }))

    it.scoped("an LMDB store made by another program", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const dataFile = path.join(dir, "cache.mdb")
        yield* Effect.promise(async () => {
          const root = open({ path: dataFile, noSubdir: true, maxDbs: 4 })
          await root.openDB<string, string>({ name: "fastllm-meta", encoding: "string" }).put("format", "someone-else/3")
          await root.close()
        })
        const error = yield* openError({ path: dir })
        assert.include(error.reason, "someone-else/3")
      }))

    it.scoped("a path below a regular file (not writable as a directory)", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const file = path.join(dir, "file.txt")
        fs.writeFileSync(file, "not a directory")
        const error = yield* openError({ path: path.join(file, "cache") })
        assert.strictEqual(error.path, path.join(file, "cache"))
        assert.include(error.reason, "a part of it is a regular file")
      }))

    it.scoped("the layer fails with the CacheError", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        fs.writeFileSync(path.join(dir, "cache.mdb"), "garbage".repeat(1000))
        const error = yield* Effect.flip(Layer.build(DiskCache.layer({ path: dir })))
        assert.strictEqual(error._tag, "CacheError")
      }))

    it("names the causes of file-system and LMDB failures", () => {
      const errno = (code: string | number, message: string) => Object.assign(new Error(message), { code })
      assert.include(LmdbFile.describe(errno("EACCES", "EACCES: permission denied, open")), "path is not writable")
      assert.include(LmdbFile.describe(errno(13, "Permission denied")), "path is not writable")
      assert.include(LmdbFile.describe(errno("EROFS", "read-only file system")), "path is not writable")
      assert.include(LmdbFile.describe(errno(28, "No space left on device")), "disk is full")
      assert.include(LmdbFile.describe(errno("ENOSPC", "ENOSPC: write")), "disk is full")
      assert.include(LmdbFile.describe(errno(-30793, "MDB_INVALID: File is not an LMDB file")), "corrupt or foreign")
      assert.include(LmdbFile.describe(errno(-30797, "MDB_PAGE_NOTFOUND: Requested page not found")), "corrupt")
      assert.include(LmdbFile.describe(new Error("something else")), "something else")
    })
  })

  it.scopedLive("a SIGKILLed writer loses no acknowledged entry and leaves a readable store", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const acknowledged = (stdout: string) => stdout.split("\n").filter((line) => line.startsWith("key-"))
      // kill once a few thousand entries are acknowledged, while it is writing more
      const result = yield* runFixture("writer.ts", [dir], (stdout) => acknowledged(stdout).length >= 3_000)
      assert.strictEqual(result.signal, "SIGKILL", result.stderr)
      const keys = acknowledged(result.stdout)
      assert.isAtLeast(keys.length, 3_000)
      const cache = yield* DiskCache.make({ path: dir })
      for (const key of keys) {
        assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get(key)), responseFor(key), key)
      }
      // the whole store reads: entries beyond the acknowledged ones (committed, not yet printed) are valid too
      const size = yield* cache.size
      assert.isAtLeast(size, keys.length)
      assert.strictEqual(yield* cache.prune, 0)
      yield* cache.set("after-crash", chatResponse("after-crash"))
      assert.strictEqual(yield* cache.size, size + 1)
    }), 60_000)

  it.scopedLive("a full disk fails the set with a CacheError naming the cause; acknowledged entries stay", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // a file size limit (2-4 MB, by the shell's block size) makes the store's file hit a wall
      // like a full disk: the write fails with EFBIG where a full disk gives ENOSPC
      const result = yield* runFixture("filler.ts", [dir], undefined, 4096)
      assert.strictEqual(result.code, 0, result.stderr)
      const lines = result.stdout.trim().split("\n")
      assert.strictEqual(lines.length, 4, result.stdout)
      // lmdb-js reports EFBIG or EIO, or only "Commit failed" (then the cause comes from statfs)
      assert.match(lines[0]!, /^error Cache set failed for .*cache\.mdb: (disk is full|the disk refused the write)/)
      const [, acknowledged, readable] = /^acknowledged (\d+) readable (\d+)$/.exec(lines[1]!) ?? []
      assert.isAbove(Number(acknowledged), 100)
      assert.strictEqual(readable, acknowledged)
      assert.strictEqual(lines[3], "closed")
      // without the limit, the store opens and holds every acknowledged entry
      const keys: unknown = JSON.parse(lines[2]!.slice("keys ".length))
      assert.isArray(keys)
      const cache = yield* DiskCache.make({ path: dir })
      assert.isAtLeast(yield* cache.size, Number(acknowledged))
      for (const key of Array.isArray(keys) ? keys : []) {
        assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get(String(key))), responseFor(String(key)), String(key))
      }
      yield* cache.set("after", chatResponse("after"))
    }), 60_000)

  it.scopedLive("two processes use one path at once and see each other's entries", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const [a, b] = yield* Effect.all([
        runFixture("sharer.ts", [dir, "a", "b", "400"]),
        runFixture("sharer.ts", [dir, "b", "a", "400"])
      ], { concurrency: 2 })
      assert.strictEqual(a.code, 0, a.stderr + a.stdout)
      assert.strictEqual(b.code, 0, b.stderr + b.stdout)
      assert.strictEqual(a.stdout.trim(), "saw 400")
      assert.strictEqual(b.stdout.trim(), "saw 400")
      const cache = yield* DiskCache.make({ path: dir })
      assert.strictEqual(yield* cache.size, 800)
    }), 60_000)

  it.scopedLive("a store another process is committing to passes the header check", () =>
    Effect.gen(function*() {
      // The check before LMDB maps the file reads the meta pages and the file's size; a commit by
      // the other process between the two once looked like a truncated file (about 1 check in
      // 1,300 failed, and with it a second process opening a shared store).
      const dir = yield* tempDir
      const writer = yield* Effect.fork(runFixture("writer.ts", [dir], (stdout) => stdout.length > 4_000_000))
      const dataFile = path.join(dir, LmdbFile.DATA_FILE_NAME)
      let checks = 0
      const problems: Array<string> = []
      while (checks < 200_000 && writer.unsafePoll() === null) {
        for (let i = 0; i < 200; i++, checks++) {
          const problem = LmdbFile.validate(dataFile)
          if (problem !== undefined) problems.push(problem.reason)
        }
        yield* Effect.yieldNow()
      }
      yield* Fiber.interrupt(writer)
      assert.deepStrictEqual(problems.slice(0, 3), [])
      assert.isAbove(checks, 20_000)
      yield* Effect.scoped(DiskCache.make({ path: dir }))
    }), 60_000)

  it.scopedLive("this process sees entries another process writes while it has the store open", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const cache = yield* DiskCache.make({ path: dir })
      yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => `b-${i}`), (key) => cache.set(key, responseFor(key)), {
        discard: true,
        concurrency: 10
      })
      const child = yield* runFixture("sharer.ts", [dir, "a", "b", "50"])
      assert.strictEqual(child.code, 0, child.stderr)
      for (let i = 0; i < 50; i++) {
        assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get(`a-${i}`)), responseFor(`a-${i}`))
      }
    }), 60_000)
})
