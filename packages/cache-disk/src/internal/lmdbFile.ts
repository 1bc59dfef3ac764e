/**
 * Where the LMDB file lives, a check of its header before LMDB maps it, and the translation of
 * file-system and LMDB failures into sentences a person can act on.
 *
 * Why check the header ourselves: LMDB memory-maps the file and trusts it. Measured with lmdb
 * 3.5.6: opening a file of garbage bytes kills the process with SIGSEGV, and a truncated file
 * with SIGBUS — no exception to catch. Reading the two meta pages first turns these cases into
 * a `CacheError`.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** The file name inside a cache directory. LMDB adds `<name>-lock` next to it. @internal */
export const DATA_FILE_NAME = "cache.mdb"

/** @internal */
export interface Location {
  /** The LMDB data file. */
  readonly dataFile: string
}

/** A failure with the cause in words and the path it concerns. @internal */
export class FileProblem {
  constructor(readonly reason: string, readonly path: string) {}
}

/**
 * Resolves `path`: an existing regular file is the data file itself; anything else is a
 * directory (created with its parents) holding {@link DATA_FILE_NAME}.
 *
 * @internal
 */
export const locate = (input: string): Location | FileProblem => {
  const resolved = path.resolve(input)
  let stat: fs.Stats | undefined
  try {
    stat = fs.statSync(resolved, { throwIfNoEntry: false })
  } catch (error) {
    return new FileProblem(describe(error), resolved)
  }
  if (stat !== undefined && stat.isFile()) return { dataFile: resolved }
  if (stat !== undefined && !stat.isDirectory()) {
    return new FileProblem("the path exists and is neither a directory nor a file", resolved)
  }
  if (stat === undefined) {
    try {
      fs.mkdirSync(resolved, { recursive: true })
    } catch (error) {
      return new FileProblem(describe(error), resolved)
    }
  }
  try {
    fs.accessSync(resolved, fs.constants.W_OK)
  } catch (error) {
    return new FileProblem(describe(error), resolved)
  }
  return { dataFile: path.join(resolved, DATA_FILE_NAME) }
}

const LMDB_MAGIC = 0xbeefc0de
const LMDB_DATA_VERSION = 2
// Layout of an LMDB 1.x meta page (as lmdb-js 3 writes it), offsets from the page start.
const PAGE_HEADER_BYTES = 24
const OFFSET_MAGIC = PAGE_HEADER_BYTES
const OFFSET_VERSION = PAGE_HEADER_BYTES + 4
const OFFSET_PAGE_SIZE = PAGE_HEADER_BYTES + 24 // md_pad of the free-list database
const OFFSET_LAST_PAGE = PAGE_HEADER_BYTES + 120
const OFFSET_TXN_ID = PAGE_HEADER_BYTES + 128
const META_BYTES = OFFSET_TXN_ID + 8

interface Meta {
  readonly pageSize: number
  readonly lastPage: bigint
  readonly txnId: bigint
}

const readMeta = (bytes: Buffer, at: number): Meta | undefined => {
  if (bytes.length < at + META_BYTES) return undefined
  if (bytes.readUInt32LE(at + OFFSET_MAGIC) !== LMDB_MAGIC) return undefined
  if (bytes.readUInt32LE(at + OFFSET_VERSION) !== LMDB_DATA_VERSION) return undefined
  const pageSize = bytes.readUInt32LE(at + OFFSET_PAGE_SIZE)
  if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) return undefined
  return {
    pageSize,
    lastPage: bytes.readBigUInt64LE(at + OFFSET_LAST_PAGE),
    txnId: bytes.readBigUInt64LE(at + OFFSET_TXN_ID)
  }
}

const CORRUPT = "not an LMDB cache file (corrupt or foreign)"

/**
 * Checks an existing data file before LMDB maps it: both meta pages readable, at least one with
 * LMDB's magic number and data version, and the file long enough for the pages the newest meta
 * page says it has. A missing or empty file is fine (LMDB creates it).
 *
 * @internal
 */
export const validate = (dataFile: string): FileProblem | undefined => {
  let fd: number
  try {
    fd = fs.openSync(dataFile, "r")
  } catch (error) {
    if (isErrno(error) && error.code === "ENOENT") return undefined
    return new FileProblem(describe(error), dataFile)
  }
  try {
    const head = Buffer.alloc(65_536 * 2)
    const read = fs.readSync(fd, head, 0, head.length, 0)
    if (read === 0) return undefined
    // The size is taken after the meta pages are read: another process may be committing to this
    // file right now, and LMDB writes a transaction's pages before the meta page that counts them,
    // so a size read after the meta page covers every page that meta page names. (Read before
    // it, a commit in between looked like truncation: 254 of 322,550 checks against a writing
    // process, measured with a writer child and a validate loop; test/DiskCache.test.ts "a store
    // another process is committing to passes the header check" keeps that race as a test.)
    const size = fs.fstatSync(fd).size
    const first = readMeta(head.subarray(0, read), 0)
    if (first === undefined) return new FileProblem(`${CORRUPT}: no LMDB header`, dataFile)
    const second = readMeta(head.subarray(0, read), first.pageSize)
    const newest = second !== undefined && second.txnId > first.txnId ? second : first
    const needed = (newest.lastPage + 1n) * BigInt(newest.pageSize)
    if (BigInt(size) < needed) {
      return new FileProblem(`${CORRUPT}: the file is truncated (${size} of ${needed} bytes)`, dataFile)
    }
    return undefined
  } catch (error) {
    return new FileProblem(describe(error), dataFile)
  } finally {
    fs.closeSync(fd)
  }
}

interface ErrnoLike {
  readonly code?: unknown
  readonly message?: unknown
}

const isErrno = (u: unknown): u is ErrnoLike & { readonly code: string } =>
  typeof u === "object" && u !== null && "code" in u && typeof u.code === "string"

const messageOf = (u: unknown): string =>
  u instanceof Error ? u.message : typeof u === "object" && u !== null && "message" in u ? String(u.message) : String(u)

// errno numbers as lmdb's native layer reports them (numeric `code`), Linux values.
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  13: "EACCES",
  20: "ENOTDIR",
  21: "EISDIR",
  27: "EFBIG",
  28: "ENOSPC",
  30: "EROFS",
  122: "EDQUOT"
}

/**
 * Names the cause of a failed commit whose own error lmdb-js did not deliver (it logs it, and
 * sometimes never settles the promise that carries it): from the free space on the device.
 *
 * @internal
 */
export const describeFailedCommit = (dataFile: string): string => {
  let free: number | undefined
  try {
    const stats = fs.statfsSync(path.dirname(dataFile))
    free = stats.bavail * stats.bsize
  } catch {
    free = undefined
  }
  if (free !== undefined && free < 16 * 1024 * 1024) return `disk is full (the commit failed; ${free} bytes free)`
  return "the disk refused the write (the commit failed" +
    (free === undefined ? ")" : `; ${free} bytes free: a file size limit, a quota or a failing disk)`)
}

/**
 * Names the cause of a failure: "path is not writable", "disk is full", "not an LMDB cache
 * file (corrupt or foreign)"..., followed by the original message.
 *
 * @internal
 */
export const describe = (error: unknown, dataFile?: string): string => {
  const message = messageOf(error)
  if (dataFile !== undefined && message.startsWith("Commit failed")) return describeFailedCommit(dataFile)
  const rawCode = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
  const code = typeof rawCode === "number" ? ERRNO_NAMES[rawCode] ?? String(rawCode) : String(rawCode ?? "")
  const has = (name: string) => code === name || message.includes(name)
  const cause = has("EACCES") || has("EPERM") || has("EROFS") || /permission denied|read-only file system/i.test(message)
    ? "path is not writable"
    : has("ENOSPC") || has("EDQUOT") || /no space left|quota exceeded/i.test(message)
    ? "disk is full"
    : has("EFBIG") || /file too large/i.test(message)
    ? "disk is full for this file (EFBIG: the file size limit is reached)"
    : has("EIO") || /input\/output error/i.test(message)
    ? "the disk refused the write (EIO: it is full or failing)"
    : has("ENOTDIR") || /not a directory/i.test(message)
    ? "path is not usable: a part of it is a regular file, not a directory"
    : has("ENOENT")
    ? "path does not exist"
    : /MDB_INVALID|MDB_VERSION_MISMATCH|MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_BAD_TXN|MDB_BAD_DBI|MDB_INCOMPATIBLE/.test(message)
    ? CORRUPT
    : /MDB_MAP_FULL|MDB_READERS_FULL|MDB_TXN_FULL/.test(message)
    ? "the store is full (LMDB limit)"
    : undefined
  return cause === undefined ? message : `${cause} (${message})`
}
