/**
 * Streams a JSONL file of any size through the RequestManager in constant memory: lines are read,
 * decoded and sent as the window frees up, and results come back in input order.
 *
 *   npm run example:stream-jsonl [-- path/to/requests.jsonl]
 *
 * (`fastllm run` does the same with progress, resume and Batch-format output.)
 */
import { fileURLToPath } from "node:url"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FileSystem from "@effect/platform/FileSystem"
import { BatchLine } from "@fastllm/cli"
import { AutoProvider } from "@fastllm/cli"
import { Cache, RequestManager } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const file = process.argv[2] ?? fileURLToPath(new URL("./requests.jsonl", import.meta.url))

// One Batch API line: {custom_id, method, url, body}, decoded with Schema (a bad line fails the stream).
const decodeLine = Schema.decodeUnknown(Schema.parseJson(BatchLine.BatchInputLine))

const program = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const manager = yield* RequestManager.RequestManager
  const requests = fs.stream(file).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.filter((line) => line.trim() !== ""),
    Stream.mapEffect(decodeLine),
    // Tag each body by its endpoint, so that the manager decodes it as that kind.
    Stream.map((line) => ({ _tag: BatchLine.kindOfUrl(line.url) === "embedding" ? "Embedding" : "Chat", request: line.body }))
  )
  const counts = yield* manager.stream(requests).pipe(
    Stream.tap((result) =>
      result.index < 3
        ? Effect.log(`#${result.index} ${result._tag} (${result.kind ?? "?"})`)
        : Effect.void
    ),
    Stream.runFold({ chat: 0, embedding: 0, failed: 0 }, (acc, result) =>
      result._tag === "Failure"
        ? { ...acc, failed: acc.failed + 1 }
        : { ...acc, [result.kind]: acc[result.kind] + 1 })
  )
  const stats = yield* manager.snapshot
  yield* Effect.log(
    `${stats.done} results: ${counts.chat} chat, ${counts.embedding} embeddings, ${counts.failed} failed; ` +
      `${stats.deduplicated} duplicates answered once; ${stats.apiCalls} API calls in ${stats.elapsedMillis} ms`
  )
})

const MainLayer = RequestManager.layer({ concurrency: 64 }).pipe(
  Layer.provide(AutoProvider.layerConfig()),
  Layer.provide(Cache.memory())
)

NodeRuntime.runMain(program.pipe(Effect.provide(Layer.merge(MainLayer, NodeContext.layer))))
