import * as Schema from "effect/Schema"

/**
 * A struct that keeps the fields it does not know, on decode and on encode alike, so that what an
 * OpenAI-compatible server (or a newer API version) adds survives a decode/encode round trip.
 *
 * @internal
 */
export const open = <Fields extends Schema.Struct.Fields>(fields: Fields): Schema.Struct<Fields> =>
  Schema.Struct(fields).annotations({ parseOptions: { onExcessProperty: "preserve" } })

/** @internal */
export const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** @internal */
export const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())

/** @internal */
export const UnknownRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * `make()` (a compiled decoder or encoder: `Schema.decodeUnknownEither(S)` compiles all of S's
 * parser when called) made on the first call instead of when the module loads: a one-line cached
 * `fastllm run` never decodes a request with the schema (the guard accepts it) and paid for
 * compiling ChatRequest's parser at start-up (`npx tsx bench/startup.ts --runs 11 --lines 0
 * --before <bundle>`, bench/results/issue-18-startup.md, fourth session).
 *
 * @internal
 */
export const onFirstCall = <Args extends ReadonlyArray<unknown>, R>(
  make: () => (...args: Args) => R
): (...args: Args) => R => {
  let made: ((...args: Args) => R) | undefined
  return (...args) => (made ??= make())(...args)
}
