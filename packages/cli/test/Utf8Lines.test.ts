import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { utf8Lines } from "../src/BatchFile.js"

const linesOf = (chunks: ReadonlyArray<Uint8Array>) =>
  Stream.fromIterable(chunks).pipe(utf8Lines, Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

describe("utf8Lines", () => {
  it.effect("splits LF and CRLF lines, keeps a last line without a newline", () =>
    Effect.gen(function*() {
      const lines = yield* linesOf([Buffer.from("a\r\nb\n\nc")])
      assert.deepStrictEqual(lines, [
        { text: "a", valid: true },
        { text: "b", valid: true },
        { text: "", valid: true },
        { text: "c", valid: true }
      ])
    }))

  it.effect("joins a line and a multi-byte character split across chunks", () =>
    Effect.gen(function*() {
      const bytes = Buffer.from("héllo wörld €\nnext\n")
      const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))
      const lines = yield* linesOf(chunks)
      assert.deepStrictEqual(lines, [{ text: "héllo wörld €", valid: true }, { text: "next", valid: true }])
    }))

  it.effect("marks a line with invalid UTF-8 invalid, and only that line", () =>
    Effect.gen(function*() {
      const lines = yield* linesOf([
        Buffer.concat([Buffer.from("ok\ncaf"), Buffer.from([0xc3, 0x28]), Buffer.from("\nfine")])
      ])
      assert.deepStrictEqual(lines.map((line) => line.valid), [true, false, true])
      assert.strictEqual(lines[1]?.text, "caf\uFFFD(")
    }))
})
