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
