import { assert, describe, it } from "@effect/vitest"
import { Structured } from "@fastllm/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { answer, structuredRequest } from "../src/internal/structuredOutput.js"

interface Node {
  readonly name: string
  readonly children: ReadonlyArray<Node>
}
const Node: Schema.Schema<Node> = Schema.Struct({
  name: Schema.String,
  children: Schema.Array(Schema.suspend((): Schema.Schema<Node> => Node))
}).annotations({ identifier: "Node" })

const schemas = {
  sentiment: Schema.Struct({
    label: Schema.Literal("positive", "negative", "neutral"),
    confidence: Schema.Number.pipe(Schema.between(0, 1))
  }),
  mixed: Schema.Struct({
    id: Schema.UUID,
    level: Schema.Literal(1, 2, 3),
    count: Schema.Int.pipe(Schema.between(1, 5)),
    ratio: Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThan(2)),
    tags: Schema.Array(Schema.String).pipe(Schema.minItems(1), Schema.maxItems(3)),
    note: Schema.optional(Schema.String),
    kind: Schema.Union(
      Schema.Struct({ _tag: Schema.Literal("a"), a: Schema.Boolean }),
      Schema.Struct({ _tag: Schema.Literal("b"), b: Schema.NullOr(Schema.Number) })
    ),
    tree: Node
  })
}

const requestFor = <A, I>(schema: Schema.Schema<A, I, never>) => {
  const output = Either.getOrThrow(Structured.output(schema))
  const body = {
    model: "m",
    messages: [{ role: "user", content: "q" }],
    response_format: { type: "json_schema", json_schema: { name: output.name, schema: output.jsonSchema, strict: true } }
  }
  const request = structuredRequest(body)
  if (request === undefined) throw new Error("not recognised")
  return { output, request }
}

const decodes = <A>(output: Structured.Output<A>, content: string | null): boolean => {
  if (content === null) return false
  const parsed = Either.try((): unknown => JSON.parse(content))
  return Either.isRight(parsed) && Either.isRight(output.decode(output.normalize(parsed.right)))
}

describe("the test server's structured answers", () => {
  it("conform to the schema they were asked with, and are the same for the same question", () => {
    for (const schema of Object.values(schemas)) {
      const { output, request } = requestFor(schema as Schema.Schema<unknown, unknown, never>)
      for (let i = 0; i < 50; i++) {
        const reply = answer(request, `conversation ${i}`, `question ${i}`)
        assert.strictEqual(reply.kind, "valid")
        assert.isTrue(decodes(output, reply.message.content), reply.message.content ?? "")
        assert.deepStrictEqual(answer(request, `other conversation ${i}`, `question ${i}`).message, reply.message)
      }
    }
  })

  it("break the schema in the invalid share (bad JSON, a missing field, a wrong enum value) and refuse in the refusal share", () => {
    const { output, request } = requestFor(schemas.sentiment)
    const kinds: Record<string, number> = {}
    const n = 2000
    for (let i = 0; i < n; i++) {
      const reply = answer(request, `conversation ${i}`, `question ${i}`, { invalidOutput: 0.2, refusal: 0.05, seed: 7 })
      kinds[reply.kind] = (kinds[reply.kind] ?? 0) + 1
      if (reply.kind === "valid") assert.isTrue(decodes(output, reply.message.content))
      else assert.isFalse(decodes(output, reply.message.content), `${reply.kind}: ${reply.message.content}`)
      if (reply.kind === "refusal") assert.isString(reply.message.refusal)
    }
    const share = (kind: string) => (kinds[kind] ?? 0) / n
    assert.closeTo(share("badJson") + share("missingField") + share("wrongEnum"), 0.2, 0.03)
    assert.closeTo(share("refusal"), 0.05, 0.015)
    for (const kind of ["badJson", "missingField", "wrongEnum"]) assert.isAbove(kinds[kind] ?? 0, 50, kind)
  })

  it("decide by seed and conversation, not by arrival order", () => {
    const { request } = requestFor(schemas.sentiment)
    const run = (seed: number) =>
      Array.from({ length: 200 }, (_, i) => answer(request, `c${i}`, `q${i}`, { invalidOutput: 0.3, seed }).kind)
    assert.deepStrictEqual(run(1), run(1))
    assert.notDeepEqual(run(1), run(2))
  })

  it("answer a forced function call with the arguments in a tool call", () => {
    const output = Either.getOrThrow(Structured.output(schemas.sentiment))
    const body = {
      model: "m",
      messages: [{ role: "user", content: "q" }],
      tools: [{ type: "function", function: { name: "classify", parameters: output.jsonSchema, strict: true } }],
      tool_choice: { type: "function", function: { name: "classify" } }
    }
    const request = structuredRequest(body)
    assert.strictEqual(request?.via, "tool")
    if (request === undefined) return
    const reply = answer(request, "c", "q")
    assert.strictEqual(reply.finishReason, "tool_calls")
    assert.strictEqual(reply.message.content, null)
    const call = reply.message.tool_calls?.[0]
    assert.strictEqual(call?.function.name, "classify")
    assert.isTrue(decodes(output, call?.function.arguments ?? null))
    assert.isUndefined(structuredRequest({ model: "m", messages: [], response_format: { type: "json_object" } }))
  })
})
