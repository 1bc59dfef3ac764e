/**
 * The durable ledger of a `--batch-api` job: which input lines went into which request file,
 * which file was uploaded as which file id, which batch was created from it, and which batches
 * ended. One JSON record per line, appended and fsynced BEFORE each upload and each creation (and
 * after each), in `<cache>/batch-jobs/<job>/ledger.jsonl` next to the job's request and answer
 * files. Killed at any point, the same command reads it back and resumes: batches that were
 * created are polled, files that were uploaded are not uploaded again, and a creation whose
 * answer was never recorded is looked up by its file id before anything is created again.
 *
 * Why JSON lines and not LMDB: a job writes a few records per batch (tens, not millions), an
 * append plus `fsync` is the whole durability story, and a person can read the file.
 *
 * @since 0.2.0
 */
import { BatchExecutor } from "@fastllm/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * One ledger record.
 *
 * @since 0.2.0
 * @category models
 */
export const Entry = Schema.Union(
  Schema.Struct({
    t: Schema.Literal("job"),
    input: Schema.String,
    provider: Schema.String,
    startedAt: Schema.Number
  }),
  Schema.Struct({
    t: Schema.Literal("group"),
    id: Schema.String,
    endpoint: Schema.Literal("/v1/chat/completions", "/v1/embeddings"),
    model: Schema.String,
    size: Schema.Number,
    attempt: Schema.Number,
    parent: Schema.optional(Schema.String)
  }),
  Schema.Struct({
    t: Schema.Literal("planned"),
    lines: Schema.Number,
    cached: Schema.Number,
    invalid: Schema.Number
  }),
  Schema.Struct({ t: Schema.Literal("uploading"), id: Schema.String }),
  Schema.Struct({ t: Schema.Literal("uploaded"), id: Schema.String, fileId: Schema.String }),
  Schema.Struct({ t: Schema.Literal("creating"), id: Schema.String, fileId: Schema.String }),
  Schema.Struct({ t: Schema.Literal("created"), id: Schema.String, batchId: Schema.String }),
  Schema.Struct({ t: Schema.Literal("ended"), id: Schema.String, status: Schema.String }),
  Schema.Struct({ t: Schema.Literal("done") })
)

/**
 * @since 0.2.0
 * @category models
 */
export type Entry = typeof Entry.Type

/**
 * What the ledger says about one group.
 *
 * @since 0.2.0
 * @category models
 */
export interface GroupState {
  readonly id: string
  readonly endpoint: BatchExecutor.Endpoint
  readonly model: string
  readonly size: number
  readonly attempt: number
  fileId: string | undefined
  batchId: string | undefined
  creating: boolean
  /** The status it ended in; `split` when it was replaced by halves. */
  ended: string | undefined
}

/**
 * A job's ledger read back: the job, its groups in the order they were planned, whether planning
 * finished, whether the output was written.
 *
 * @since 0.2.0
 * @category models
 */
export interface State {
  readonly input: string | undefined
  readonly provider: string | undefined
  readonly startedAt: number | undefined
  readonly groups: Map<string, GroupState>
  readonly planned: { readonly lines: number; readonly cached: number; readonly invalid: number } | undefined
  readonly done: boolean
}

const decodeEntry = Schema.decodeUnknownEither(Schema.parseJson(Entry))

/**
 * Reads a ledger file; a missing file is an empty ledger, and a torn last line (a crash in the
 * middle of an append) is ignored.
 *
 * @since 0.2.0
 * @category reading
 */
export const read = (file: string): State => {
  let text = ""
  try {
    text = fs.readFileSync(file, "utf8")
  } catch {
    text = ""
  }
  let input: string | undefined
  let provider: string | undefined
  let startedAt: number | undefined
  let planned: State["planned"]
  let done = false
  const groups = new Map<string, GroupState>()
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    const decoded = decodeEntry(line)
    if (Either.isLeft(decoded)) continue
    const entry = decoded.right
    const group = "id" in entry ? groups.get(entry.id) : undefined
    switch (entry.t) {
      case "job":
        input = entry.input
        provider = entry.provider
        startedAt = entry.startedAt
        break
      case "group":
        groups.set(entry.id, {
          id: entry.id,
          endpoint: entry.endpoint,
          model: entry.model,
          size: entry.size,
          attempt: entry.attempt,
          fileId: undefined,
          batchId: undefined,
          creating: false,
          ended: undefined
        })
        break
      case "planned":
        planned = { lines: entry.lines, cached: entry.cached, invalid: entry.invalid }
        break
      case "uploading":
        break
      case "uploaded":
        if (group !== undefined) group.fileId = entry.fileId
        break
      case "creating":
        if (group !== undefined) {
          group.fileId = entry.fileId
          group.creating = true
        }
        break
      case "created":
        if (group !== undefined) {
          group.batchId = entry.batchId
          group.creating = false
        }
        break
      case "ended":
        if (group !== undefined) group.ended = entry.status
        break
      case "done":
        done = true
        break
    }
  }
  return { input, provider, startedAt, groups, planned, done }
}

/**
 * An open ledger: every `append` is written and fsynced before it returns.
 *
 * @since 0.2.0
 * @category models
 */
export interface Ledger {
  readonly directory: string
  readonly append: (entry: Entry) => void
  readonly close: () => void
}

/**
 * Opens (creating) the ledger of the job in `directory`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const open = (directory: string): Ledger => {
  fs.mkdirSync(directory, { recursive: true })
  const fd = fs.openSync(path.join(directory, "ledger.jsonl"), "a")
  let closed = false
  return {
    directory,
    append: (entry) => {
      fs.writeSync(fd, JSON.stringify(entry) + "\n")
      fs.fsyncSync(fd)
    },
    close: () => {
      if (closed) return
      closed = true
      fs.closeSync(fd)
    }
  }
}

/**
 * The jobs directory of a cache directory.
 *
 * @since 0.2.0
 * @category constants
 */
export const jobsDirectory = (cacheDirectory: string): string => path.join(cacheDirectory, "batch-jobs")

/**
 * Every job under a cache directory with its ledger read back, oldest first.
 *
 * @since 0.2.0
 * @category reading
 */
export const jobs = (cacheDirectory: string): ReadonlyArray<{ readonly id: string; readonly state: State }> => {
  const root = jobsDirectory(cacheDirectory)
  let names: Array<string> = []
  try {
    names = fs.readdirSync(root)
  } catch {
    names = []
  }
  return names
    .map((id) => ({ id, state: read(path.join(root, id, "ledger.jsonl")) }))
    .filter((job) => job.state.input !== undefined)
    .sort((a, b) => (a.state.startedAt ?? 0) - (b.state.startedAt ?? 0))
}

/**
 * Whether an ended status is final for the group (not `split`, which hands its lines to halves).
 *
 * @since 0.2.0
 * @category getters
 */
export const inFlight = (group: GroupState): boolean => group.batchId !== undefined && group.ended === undefined

/** @internal */
export const isStatus = (status: string): status is BatchExecutor.Status =>
  (BatchExecutor.Status.literals as ReadonlyArray<string>).includes(status)
