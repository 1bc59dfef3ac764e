import { assert, describe, it } from "@effect/vitest"
import { Structured } from "@fastllm/core"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

interface Category {
  readonly name: string
  readonly children: ReadonlyArray<Category>
}
const Category: Schema.Schema<Category> = Schema.Struct({
  name: Schema.String,
  children: Schema.Array(Schema.suspend((): Schema.Schema<Category> => Category))
}).annotations({ identifier: "Category" })

class Person extends Schema.Class<Person>("Person")({ name: Schema.String, age: Schema.Int }) {}

type Expectation =
  /** The strict schema is Effect's JSON Schema as it is (minus `$schema`): no note. */
  | { readonly accepted: unknown }
  /** Rewritten: the strict schema, and a fragment of every note. */
  | { readonly converted: unknown; readonly notes: ReadonlyArray<string> }
  /** Refused before anything is sent: the JSON pointer and a fragment of the reason. */
  | { readonly refused: string; readonly reason: string }

const object = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: "object",
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
  ...extra
})
const nullOr = (schema: unknown) => ({ anyOf: [schema, { type: "null" }] })

const table: ReadonlyArray<readonly [string, Schema.Schema<any, any, never>, Expectation]> = [
  [
    "struct of string, number, boolean",
    Schema.Struct({ a: Schema.String, b: Schema.Number, c: Schema.Boolean }),
    { accepted: object({ a: { type: "string" }, b: { type: "number" }, c: { type: "boolean" } }) }
  ],
  [
    "literal union → enum",
    Schema.Struct({ label: Schema.Literal("positive", "negative", "neutral") }),
    { accepted: object({ label: { type: "string", enum: ["positive", "negative", "neutral"] } }) }
  ],
  [
    "number refinements kept (between)",
    Schema.Struct({ confidence: Schema.Number.pipe(Schema.between(0, 1)) }),
    {
      accepted: object({
        confidence: {
          type: "number",
          minimum: 0,
          maximum: 1,
          description: "a number between 0 and 1",
          title: "between(0, 1)"
        }
      })
    }
  ],
  [
    "NullOr stays a required nullable",
    Schema.Struct({ note: Schema.NullOr(Schema.String) }),
    { accepted: object({ note: nullOr({ type: "string" }) }) }
  ],
  [
    "array with minItems",
    Schema.Struct({ tags: Schema.Array(Schema.String).pipe(Schema.minItems(1)) }),
    {
      accepted: object({
        tags: {
          type: "array",
          items: { type: "string" },
          minItems: 1,
          description: "an array of at least 1 item(s)",
          title: "minItems(1)"
        }
      })
    }
  ],
  [
    "recursion through $defs kept",
    Schema.Struct({ root: Category }),
    {
      accepted: object({ root: { $ref: "#/$defs/Category" } }, {
        $defs: {
          Category: object({ name: { type: "string" }, children: { type: "array", items: { $ref: "#/$defs/Category" } } })
        }
      })
    }
  ],
  [
    "transformation: the encoded side is sent (NumberFromString)",
    Schema.Struct({ n: Schema.NumberFromString }),
    {
      accepted: object({ n: { $ref: "#/$defs/NumberFromString" } }, {
        $defs: { NumberFromString: { type: "string", description: "a string to be decoded into a number" } }
      })
    }
  ],
  [
    "Schema.Enums → one enum",
    Schema.Struct({ e: Schema.Enums({ A: "a", B: "b" }) }),
    { accepted: object({ e: { type: "string", enum: ["a", "b"] } }) }
  ],
  [
    "optional property → required and nullable",
    Schema.Struct({ a: Schema.String, b: Schema.optional(Schema.Number) }),
    { converted: object({ a: { type: "string" }, b: nullOr({ type: "number" }) }), notes: ["/properties/b: optional property made required and nullable"] }
  ],
  [
    "optional with default → required and nullable",
    Schema.Struct({ n: Schema.optionalWith(Schema.Number, { default: () => 1 }) }),
    { converted: object({ n: nullOr({ type: "number" }) }), notes: ["/properties/n: optional property made required and nullable"] }
  ],
  [
    "string length refinements dropped (checked on decode)",
    Schema.Struct({ s: Schema.String.pipe(Schema.minLength(2)) }),
    {
      converted: object({ s: { type: "string", description: "a string at least 2 character(s) long", title: "minLength(2)" } }),
      notes: ["/properties/s: minLength dropped (checked when decoding)"]
    }
  ],
  [
    "constraint next to a $ref: the definition is inlined",
    Schema.Struct({ n: Schema.Int.pipe(Schema.positive()) }),
    {
      converted: object({ n: { type: "integer", exclusiveMinimum: 0, description: "a positive number", title: "positive" } }),
      notes: ["/properties/n: #/$defs/Int inlined"]
    }
  ],
  [
    "identifier at the root: inlined, the root is the object",
    Schema.Struct({ a: Schema.String }).annotations({ identifier: "Thing" }),
    { accepted: object({ a: { type: "string" } }) }
  ],
  [
    "Schema.Class",
    Person,
    { accepted: object({ name: { type: "string" }, age: { $ref: "#/$defs/Int" } }, { $defs: { Int: { type: "integer", description: "an integer", title: "int" } } }) }
  ],
  ["Record: arbitrary keys", Schema.Struct({ r: Schema.Record({ key: Schema.String, value: Schema.Number }) }), {
    refused: "/properties/r",
    reason: "arbitrary keys"
  }],
  ["Tuple", Schema.Struct({ t: Schema.Tuple(Schema.String, Schema.Number) }), { refused: "/properties/t", reason: "tuples" }],
  ["Unknown", Schema.Struct({ u: Schema.Unknown }), { refused: "/properties/u", reason: "any value" }],
  ["empty struct", Schema.Struct({ o: Schema.Struct({}) }), { refused: "/properties/o", reason: "without named properties" }],
  ["root not an object", Schema.String, { refused: "/", reason: "the root must be an object" }],
  ["root union", Schema.Union(Schema.Struct({ a: Schema.String }), Schema.Struct({ b: Schema.String })), {
    refused: "/",
    reason: "the root must be an object"
  }],
  ["no JSON Schema at all (DateFromSelf)", Schema.Struct({ d: Schema.DateFromSelf }), {
    refused: "/properties/d",
    reason: "it has no JSON Schema"
  }],
  ["bigint", Schema.Struct({ x: Schema.BigIntFromSelf }), { refused: "/properties/x", reason: "it has no JSON Schema" }]
]

describe("Structured.jsonSchema: Schema → strict JSON Schema", () => {
  for (const [name, schema, expectation] of table) {
    it(name, () => {
      const result = Structured.jsonSchema(schema)
      if ("refused" in expectation) {
        assert.isTrue(Either.isLeft(result), "expected a refusal")
        if (Either.isRight(result)) return
        assert.strictEqual(result.left._tag, "UnsupportedSchemaError")
        assert.strictEqual(result.left.path, expectation.refused)
        assert.include(result.left.reason, expectation.reason)
        assert.include(result.left.message, expectation.reason)
        return
      }
      if (Either.isLeft(result)) return assert.fail(result.left.message)
      if ("accepted" in expectation) {
        assert.deepStrictEqual(result.right.schema, expectation.accepted)
        assert.deepStrictEqual(result.right.notes, [])
      } else {
        assert.deepStrictEqual(result.right.schema, expectation.converted)
        assert.strictEqual(result.right.notes.length, expectation.notes.length, result.right.notes.join("\n"))
        expectation.notes.forEach((fragment, i) => assert.include(result.right.notes[i], fragment))
      }
    })
  }
})

describe("Structured.outputFromJsonSchema: plain JSON Schemas", () => {
  const validate = (value: unknown) => Either.right(value)

  it("refuses what strict mode cannot express, naming the place", () => {
    const cases: ReadonlyArray<readonly [unknown, string, string]> = [
      [{ type: "object", properties: { a: { not: { type: "string" } } } }, "/properties/a", "`not`"],
      [{ type: "object", properties: { a: { type: "string" } }, patternProperties: { x: {} } }, "/", "pattern"],
      [{ type: "object", properties: { a: { allOf: [{ type: "string" }, { minLength: 1 }] } } }, "/properties/a", "allOf"],
      [{ type: "object", properties: { a: { $ref: "#/$defs/Missing" } } }, "/properties/a", "unresolvable"],
      ["not a schema", "/", "must be an object"]
    ]
    for (const [schema, path, reason] of cases) {
      const result = Structured.outputFromJsonSchema(schema, { name: "x", validate })
      assert.isTrue(Either.isLeft(result), JSON.stringify(schema))
      if (Either.isRight(result)) continue
      assert.strictEqual(result.left.path, path)
      assert.include(result.left.reason, reason)
    }
  })

  it("converts draft-07 definitions, type lists and oneOf, and names the output safely", () => {
    const result = Structured.outputFromJsonSchema({
      type: "object",
      properties: {
        when: { type: ["string", "null"], format: "date-time" },
        item: { $ref: "#/definitions/Item" },
        either: { oneOf: [{ type: "string" }, { type: "number" }] }
      },
      required: ["item", "either"],
      definitions: { Item: { type: "object", properties: { id: { type: "integer" } }, required: ["id"] }, Unused: { type: "string" } }
    }, { name: "my schema.json", validate })
    if (Either.isLeft(result)) return assert.fail(result.left.message)
    assert.strictEqual(result.right.name, "my_schema_json")
    assert.deepStrictEqual(result.right.jsonSchema, object({
      when: { type: ["string", "null"], format: "date-time" },
      item: { $ref: "#/definitions/Item" },
      either: { anyOf: [{ type: "string" }, { type: "number" }] }
    }, { definitions: { Item: object({ id: { type: "integer" } }) } }))
    assert.deepStrictEqual(result.right.normalize({ when: null, item: { id: 1 }, either: 2 }), { when: null, item: { id: 1 }, either: 2 })
  })
})

describe("Structured.output: answers back to the Schema", () => {
  const Answer = Schema.Struct({
    label: Schema.Literal("a", "b"),
    note: Schema.optional(Schema.String),
    maybe: Schema.NullOr(Schema.Number),
    nested: Schema.Union(
      Schema.Struct({ kind: Schema.Literal("x"), extra: Schema.optional(Schema.Number) }),
      Schema.Struct({ kind: Schema.Literal("y"), other: Schema.NullOr(Schema.String) })
    ),
    when: Schema.optionalWith(Schema.NumberFromString, { default: () => 7 })
  })

  it("reads the nulls strict mode forced for optional properties as absent, keeps real nulls", () => {
    const out = Structured.output(Answer)
    if (Either.isLeft(out)) return assert.fail(out.left.message)
    const normalized = out.right.normalize({
      label: "a",
      note: null,
      maybe: null,
      nested: { kind: "x", extra: null },
      when: null
    })
    assert.deepStrictEqual(normalized, { label: "a", maybe: null, nested: { kind: "x" } })
    const decoded = out.right.decode(normalized)
    assert.deepStrictEqual(decoded, Either.right({ label: "a", maybe: null, nested: { kind: "x" }, when: 7 }))
    const other = out.right.normalize({ label: "b", note: "n", maybe: 1, nested: { kind: "y", other: null }, when: "3" })
    assert.deepStrictEqual(out.right.decode(other), Either.right({ label: "b", note: "n", maybe: 1, nested: { kind: "y", other: null }, when: 3 }))
  })

  it("quotes every problem, one line each with its path (ParseResult's ArrayFormatter)", () => {
    const out = Structured.output(Answer)
    if (Either.isLeft(out)) return assert.fail(out.left.message)
    const decoded = out.right.decode({ label: "c", maybe: "x", nested: { kind: "x" } })
    if (Either.isRight(decoded)) return assert.fail("expected an issue")
    assert.deepStrictEqual(decoded.left.split("\n"), [
      "- at [\"label\"]: Expected \"a\", actual \"c\"",
      "- at [\"label\"]: Expected \"b\", actual \"c\"",
      "- at [\"maybe\"]: Expected number, actual \"x\"",
      "- at [\"maybe\"]: Expected null, actual \"x\""
    ])
  })

  it("takes its name from the identifier and its description from the annotation", () => {
    const out = Structured.output(Schema.Struct({ a: Schema.String }).annotations({ identifier: "Sentiment label!", description: "d" }))
    if (Either.isLeft(out)) return assert.fail(out.left.message)
    assert.strictEqual(out.right.name, "Sentiment_label")
    assert.strictEqual(out.right.description, "d")
    const named = Structured.output(Schema.Struct({ a: Schema.String }), { name: "custom" })
    assert.strictEqual(Either.getOrThrow(named).name, "custom")
  })
})
