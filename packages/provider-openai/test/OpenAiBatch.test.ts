import { assert, describe, it } from "@effect/vitest"
import { BatchExecutor, BatchJob, Cache, ChatResponse, RequestManager } from "@fastllm/core"
import { OpenAiBatch, OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"

// OpenAiBatch against the testing package's Files and Batch API over real HTTP on 127.0.0.1, on
// the server's fast clock (a batch of a few hundred lines ends in well under a second).

const key = "sk-batch-test-0123456789"
const chat = (i: number) => ({ model: "gpt-4o-mini", messages: [{ role: "user" as const, content: `question ${i}` }] })
const fast = { pollInterval: "10 millis", pollIntervalMax: "50 millis" } as const

const setup = (batch: TestServer.BatchOptions = {}, executor: Omit<OpenAiBatch.Options, "apiKey" | "baseUrl"> = {}) =>
  Effect.gen(function*() {
    const server = yield* TestServer.make({ apiKey: key, batch: { linesPerSecond: 5_000, ...batch } })
    const options = { apiKey: Redacted.make(key), baseUrl: server.url }
    const layer = Layer.merge(OpenAiBatch.layer({ ...options, ...executor }), Cache.memory())
    return { server, layer, options }
  })

const text = (result: RequestManager.ItemResult) => {
  const response = RequestManager.chatResponse(result)
  return response === undefined ? undefined : ChatResponse.text(response)
}

describe("OpenAiBatch + BatchJob.run", () => {
  it.scopedLive("answers every item in input order, split into batches of --batch-size, and caches them for online runs", () =>
    Effect.gen(function*() {
      const { options, server } = yield* setup()
      const inputs = Array.from({ length: 250 }, (_, i) => chat(i))
      const cache = yield* Cache.makeMemory()
      const cacheLayer = Layer.succeed(Cache.Cache, cache)
      const { batches, results } = yield* BatchJob.run(inputs, { ...fast, batchSize: 100 }).pipe(
        Effect.provide(Layer.merge(OpenAiBatch.layer(options), cacheLayer))
      )
      assert.strictEqual(batches, 3)
      assert.strictEqual(results.length, 250)
      results.forEach((result, i) => {
        assert.strictEqual(result.index, i)
        assert.include(text(result) ?? "", `question ${i}`)
      })
      const stats = yield* server.stats
      assert.strictEqual(stats.byPath["/v1/files"], 3)
      assert.strictEqual(stats.byPath["/v1/batches"], 3)
      assert.isUndefined(stats.byPath["/v1/chat/completions"])

      // an online run of the same requests is answered from the cache: same keys
      const online = yield* RequestManager.run(inputs).pipe(
        Effect.provide(RequestManager.layer().pipe(
          Layer.provide(Layer.merge(OpenAiProvider.layer(options), cacheLayer))
        ))
      )
      assert.strictEqual(online.stats.cached, 250)
      assert.isUndefined((yield* server.stats).byPath["/v1/chat/completions"])
    }))

  it.scopedLive("cache-first: cached items are not uploaded; identical items go up once", () =>
    Effect.gen(function*() {
      const { layer: fresh, server } = yield* setup()
      const layer = Layer.succeedContext(yield* Layer.build(fresh))
      const first = yield* BatchJob.run([chat(1), chat(2)], fast).pipe(Effect.provide(layer))
      assert.strictEqual(first.batches, 1)
      yield* server.reset
      const again = yield* BatchJob.run([chat(1), chat(2), chat(3), chat(3)], fast).pipe(Effect.provide(layer))
      assert.deepStrictEqual(again.results.map((r) => r._tag === "Success" && r.fromCache), [true, true, false, false])
      assert.isTrue(again.results[3]?._tag === "Success" && again.results[3].deduplicated)
      const files = (yield* server.stats).byPath["/v1/files"]
      assert.strictEqual(files, 1)
    }))

  it.scopedLive("per-line 400s are failures with the API's error, not resubmitted; bad input fails alone", () =>
    Effect.gen(function*() {
      const { layer, server } = yield* setup({ lineErrors: 0.2, seed: 7 })
      const inputs: Array<unknown> = Array.from({ length: 100 }, (_, i) => chat(i))
      inputs[5] = { model: "gpt-4o-mini", messages: "not a list" }
      const { batches, results } = yield* BatchJob.run(inputs as never, fast).pipe(Effect.provide(layer))
      assert.strictEqual(batches, 1)
      const failures = results.filter((r) => r._tag === "Failure")
      assert.isAbove(failures.length, 5)
      const bad = results[5]
      assert.isTrue(bad?._tag === "Failure" && bad.error._tag === "InvalidRequestError")
      for (const failure of failures) {
        if (failure._tag !== "Failure" || failure.index === 5) continue
        assert.strictEqual(failure.error._tag, "ApiError")
        if (failure.error._tag === "ApiError") assert.strictEqual(failure.error.status, 400)
      }
      assert.strictEqual((yield* server.stats).byPath["/v1/files"], 1)
    }))

  it.scopedLive("expired lines go into a follow-up batch, at most `retries` times", () =>
    Effect.gen(function*() {
      const { layer } = yield* setup({ expireBatches: 1 })
      const inputs = Array.from({ length: 40 }, (_, i) => chat(i))
      const retried = yield* BatchJob.run(inputs, fast).pipe(Effect.provide(layer))
      assert.strictEqual(retried.batches, 2)
      assert.isTrue(retried.results.every((r) => r._tag === "Success"))

      const { layer: noRetries } = yield* setup({ expireBatches: 1 })
      const given = yield* BatchJob.run(inputs, { ...fast, retries: 0 }).pipe(Effect.provide(noRetries))
      const expired = given.results.filter((r) => r._tag === "Failure")
      assert.strictEqual(expired.length, 20)
      for (const failure of expired) {
        assert.isTrue(failure._tag === "Failure" && failure.error._tag === "ApiError" && failure.error.code === "batch_expired")
      }
    }))

  it.scopedLive("a batch refused for the enqueued-token limit waits and is tried again, in halves when refused on", () =>
    Effect.gen(function*() {
      const { layer } = yield* setup({ refuseCreations: 2 })
      const inputs = Array.from({ length: 30 }, (_, i) => chat(i))
      const waited = yield* BatchJob.run(inputs, fast).pipe(Effect.provide(layer))
      assert.strictEqual(waited.batches, 3) // two refused, the third ran
      assert.isTrue(waited.results.every((r) => r._tag === "Success"))

      const { layer: splitting } = yield* setup({ refuseCreations: 2 })
      const halved = yield* BatchJob.run(inputs, { ...fast, limitRetries: 1 }).pipe(Effect.provide(splitting))
      assert.strictEqual(halved.batches, 4) // refused twice, then two halves of 15
      assert.isTrue(halved.results.every((r) => r._tag === "Success"))
    }))

  it.scopedLive("a batch that fails validation fails its lines with the reason", () =>
    Effect.gen(function*() {
      const { layer } = yield* setup({ failValidation: 1 })
      const { results } = yield* BatchJob.run([chat(1), chat(2)], fast).pipe(Effect.provide(layer))
      for (const result of results) {
        assert.isTrue(result._tag === "Failure" && result.error._tag === "ApiError")
        if (result._tag === "Failure") assert.include(result.error.message, "failed validation")
      }
    }))

  it.scopedLive("upload, create, retrieve, list, cancel and results, step by step", () =>
    Effect.gen(function*() {
      const { options } = yield* setup({ linesPerSecond: 20 })
      const service = Context.get(yield* Layer.build(OpenAiBatch.layer(options)), BatchExecutor.BatchExecutor)
      const lines = [1, 2, 3].map((i) => ({ customId: `c${i}`, request: { _tag: "Chat" as const, request: chat(i) } }))
      const fileId = yield* service.upload("/v1/chat/completions", lines)
      const created = yield* service.create(fileId, "/v1/chat/completions", { job: "test" })
      assert.strictEqual(created.status, "validating")
      assert.strictEqual(created.inputFileId, fileId)
      const listed = yield* service.list()
      assert.strictEqual(listed[0]?.id, created.id)
      assert.strictEqual(listed[0]?.metadata["job"], "test")
      const cancelling = yield* service.cancel(created.id)
      assert.strictEqual(cancelling.status, "cancelling")
      yield* Effect.sleep("60 millis")
      const cancelled = yield* service.retrieve(created.id)
      assert.strictEqual(cancelled.status, "cancelled")
      const outcomes = yield* Stream.runCollect(service.results(cancelled))
      assert.isAtMost(outcomes.length, 3)
      const missing = yield* Effect.either(service.retrieve("batch_nope"))
      assert.isTrue(Either.isLeft(missing) && missing.left.kind === "notFound")
    }))

  it.scopedLive("a wrong key is an `unauthorized` BatchError that never shows the key", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const wrong = "sk-wrong-key-abcdefghijkl"
      const layer = Layer.merge(OpenAiBatch.layer({ apiKey: Redacted.make(wrong), baseUrl: server.url }), Cache.memory())
      const failed = yield* Effect.either(BatchJob.run([chat(1)], fast).pipe(Effect.provide(layer)))
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left.kind, "unauthorized")
        assert.notInclude(failed.left.message, wrong)
        assert.notInclude(JSON.stringify(failed.left), wrong)
      }
    }))
})
