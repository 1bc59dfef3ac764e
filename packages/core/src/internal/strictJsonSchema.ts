/**
 * JSON Schema → the subset OpenAI's structured outputs accept with `strict: true`, and back:
 * `toStrict` rewrites a schema (every property required, `additionalProperties: false`, optional
 * properties nullable, constraints strict mode lacks dropped, `$defs` kept) or says why it cannot;
 * `removeAddedNulls` undoes the optional → nullable step on an answer before it is validated
 * against the original schema.
 *
 * What strict mode accepts follows OpenAI's structured-outputs guide: types string, number,
 * integer, boolean, object, array, null, `enum`/`const`, `anyOf`, `$ref` into `$defs` (recursion
 * included); string `pattern` and a few `format`s; number `minimum`/`maximum`/`exclusive*`/
 * `multipleOf`; array `minItems`/`maxItems`; the root an object; at most 10 levels of nesting and
 * 5000 properties.
 *
 * @internal
 */

import * as Either from "effect/Either"

/** A JSON Schema node (an object; booleans are handled apart). @internal */
export type JsonObject = { readonly [key: string]: unknown }

/** @internal */
export interface Conversion {
  /** The strict-mode schema. */
  readonly schema: JsonObject
  /** What was changed, one line each, with its JSON pointer (`/properties/a: ...`). */
  readonly notes: ReadonlyArray<string>
}

/** Why a schema cannot be used in strict mode; `path` is a JSON pointer into the input schema. @internal */
export interface Refusal {
  readonly reason: string
  readonly path: string
}

/** Formats strict mode accepts on strings. */
const supportedFormats: ReadonlySet<string> = new Set([
  "date-time",
  "time",
  "date",
  "duration",
  "email",
  "hostname",
  "ipv4",
  "ipv6",
  "uuid"
])

/** Keywords copied as they are, by the type they apply to. */
const keptKeywords: Readonly<Record<string, ReadonlyArray<string>>> = {
  string: ["pattern"],
  number: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"],
  integer: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"],
  array: ["minItems", "maxItems"]
}

/** Annotations kept on every node. */
const keptAnnotations: ReadonlyArray<string> = ["description", "title"]

/** Dropped without a note: they never constrain a value. */
const silentlyDropped: ReadonlySet<string> = new Set([
  "$schema",
  "$id",
  "$comment",
  "examples",
  "default",
  "readOnly",
  "writeOnly",
  "deprecated",
  "contentMediaType",
  "contentEncoding",
  "$anchor"
])

const tupleReason = "tuples (fixed positions in an array) are not supported in strict mode: use a struct"

/** Keywords that change what is valid in ways strict mode cannot express, with the reason. */
const refusedKeywords: Readonly<Record<string, string>> = {
  not: "`not` (a negation) is not supported in strict mode",
  if: "`if`/`then`/`else` is not supported in strict mode",
  then: "`if`/`then`/`else` is not supported in strict mode",
  else: "`if`/`then`/`else` is not supported in strict mode",
  patternProperties: "property names given by a pattern (a record with template-literal or refined keys) are not supported in strict mode: every property must be named",
  propertyNames: "constraints on property names (a record) are not supported in strict mode: every property must be named",
  dependentRequired: "`dependentRequired` is not supported in strict mode",
  dependentSchemas: "`dependentSchemas` is not supported in strict mode",
  unevaluatedProperties: "`unevaluatedProperties` is not supported in strict mode",
  unevaluatedItems: "`unevaluatedItems` is not supported in strict mode",
  contains: "`contains` is not supported in strict mode",
  prefixItems: tupleReason,
  additionalItems: tupleReason
}

const maxDepth = 10
const maxProperties = 5000

const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

const pointerSegment = (name: string) => name.replace(/~/g, "~0").replace(/\//g, "~1")

const unescapeSegment = (segment: string) => decodeURIComponent(segment).replace(/~1/g, "/").replace(/~0/g, "~")

const typesOf = (node: JsonObject): ReadonlyArray<string> =>
  typeof node.type === "string"
    ? [node.type]
    : Array.isArray(node.type)
    ? node.type.filter((t): t is string => typeof t === "string")
    : []

/**
 * Resolves local references (`#`, `#/$defs/Name`, `#/definitions/Name`, or any JSON pointer into
 * the root) against a root schema.
 *
 * @internal
 */
export const resolveRef = (root: JsonObject, ref: string): JsonObject | undefined => {
  if (ref === "#") return root
  if (!ref.startsWith("#/")) return undefined
  let node: unknown = root
  for (const segment of ref.slice(2).split("/")) {
    if (!isObject(node)) return undefined
    node = node[unescapeSegment(segment)]
  }
  return isObject(node) ? node : undefined
}

/**
 * Whether a schema accepts `null` (following references; a cycle counts as no).
 *
 * @internal
 */
export const acceptsNull = (root: JsonObject, node: unknown, seen: ReadonlySet<string> = new Set()): boolean => {
  if (node === true) return true
  if (!isObject(node)) return false
  if (typesOf(node).includes("null")) return true
  if (node.const === null) return true
  if (Array.isArray(node.enum) && node.enum.includes(null)) return true
  for (const key of ["anyOf", "oneOf"] as const) {
    const members = node[key]
    if (Array.isArray(members) && members.some((member) => acceptsNull(root, member, seen))) return true
  }
  if (typeof node.$ref === "string" && !seen.has(node.$ref)) {
    return acceptsNull(root, resolveRef(root, node.$ref), new Set([...seen, node.$ref]))
  }
  if (Object.keys(node).every((key) => silentlyDropped.has(key) || keptAnnotations.includes(key))) return true
  return false
}

const nullSchema: JsonObject = { type: "null" }

/** `schema`, or null. */
const nullable = (schema: JsonObject): JsonObject => {
  if (Array.isArray(schema.anyOf)) return { ...schema, anyOf: [...schema.anyOf, nullSchema] }
  const { description, title, ...rest } = schema
  return {
    anyOf: [rest, nullSchema],
    ...(description === undefined ? {} : { description }),
    ...(title === undefined ? {} : { title })
  }
}

/** The names of the definitions section (`$defs` or draft-07's `definitions`). */
const definitionKeys = ["$defs", "definitions"] as const

interface Context {
  readonly root: JsonObject
  readonly notes: Array<string>
  /** Definitions that reach themselves through references: never inlined. */
  readonly recursive: ReadonlySet<string>
  refusal: Refusal | undefined
  properties: number
}

const refuse = (ctx: Context, path: string, reason: string): JsonObject => {
  if (ctx.refusal === undefined) ctx.refusal = { reason, path: path === "" ? "/" : path }
  return {}
}

const note = (ctx: Context, path: string, text: string) => void ctx.notes.push(`${path === "" ? "/" : path}: ${text}`)

/** Every `$ref` inside a node. */
const refsIn = (node: unknown, into: Set<string>): Set<string> => {
  if (Array.isArray(node)) {
    for (const item of node) refsIn(item, into)
  } else if (isObject(node)) {
    if (typeof node.$ref === "string") into.add(node.$ref)
    for (const value of Object.values(node)) refsIn(value, into)
  }
  return into
}

/** The references that reach themselves (directly or through other definitions). */
const recursiveRefs = (root: JsonObject): ReadonlySet<string> => {
  const recursive = new Set<string>()
  const reaches = (from: string, target: string, seen: Set<string>): boolean => {
    const node = resolveRef(root, from)
    for (const ref of refsIn(node, new Set())) {
      if (ref === target) return true
      if (ref === "#" || seen.has(ref)) continue
      seen.add(ref)
      if (reaches(ref, target, seen)) return true
    }
    return false
  }
  for (const ref of refsIn(root, new Set())) {
    if (ref === "#" || reaches(ref, ref, new Set([ref]))) recursive.add(ref)
  }
  return recursive
}

const convertObject = (ctx: Context, node: JsonObject, path: string, depth: number): JsonObject => {
  if (depth > maxDepth) {
    return refuse(ctx, path, `more than ${maxDepth} levels of nested objects (strict mode's limit)`)
  }
  const additional = node.additionalProperties
  if (isObject(additional) || (additional === true && !isObject(node.properties))) {
    return refuse(
      ctx,
      path,
      "an object with arbitrary keys (a record) is not supported in strict mode: every property must be named"
    )
  }
  const properties = isObject(node.properties) ? node.properties : undefined
  if (properties === undefined || Object.keys(properties).length === 0) {
    return refuse(ctx, path, "an object without named properties cannot be expressed in strict mode")
  }
  if (additional !== false) note(ctx, path, "additionalProperties set to false")
  const required = new Set(Array.isArray(node.required) ? node.required.filter((r) => typeof r === "string") : [])
  const out: Record<string, unknown> = {}
  for (const [name, property] of Object.entries(properties)) {
    const propertyPath = `${path}/properties/${pointerSegment(name)}`
    let converted = convert(ctx, property, propertyPath, depth + 1)
    if (!required.has(name)) {
      if (acceptsNull(ctx.root, property)) {
        note(ctx, propertyPath, "optional property made required (it already accepts null)")
      } else {
        converted = nullable(converted)
        note(ctx, propertyPath, "optional property made required and nullable (null is read as absent)")
      }
    }
    out[name] = converted
  }
  ctx.properties += Object.keys(properties).length
  if (ctx.properties > maxProperties) {
    return refuse(ctx, path, `more than ${maxProperties} properties in all (strict mode's limit)`)
  }
  return { type: "object", properties: out, required: Object.keys(properties), additionalProperties: false }
}

const convertArray = (ctx: Context, node: JsonObject, path: string, depth: number): JsonObject => {
  const items = node.items
  if (Array.isArray(items)) {
    return refuse(ctx, path, tupleReason)
  }
  if (items === undefined) return refuse(ctx, path, "an array without `items` (any value) cannot be expressed in strict mode")
  return { type: "array", items: convert(ctx, items, `${path}/items`, depth) }
}

/** Merges a node's `allOf` of one member, or its `$ref` with constraints beside it, into one node. */
const mergeInto = (base: JsonObject, extra: JsonObject): JsonObject => ({ ...base, ...extra })

const convert = (ctx: Context, input: unknown, path: string, depth: number): JsonObject => {
  if (ctx.refusal !== undefined) return {}
  if (input === false) return refuse(ctx, path, "`false` (no value at all, Schema.Never) cannot be expressed in strict mode")
  if (!isObject(input)) {
    return refuse(ctx, path, "any value (Schema.Unknown, Schema.Any) cannot be expressed in strict mode: give it a type")
  }
  let node = input
  for (const [keyword, reason] of Object.entries(refusedKeywords)) {
    if (keyword in node && !(keyword === "additionalItems" && node.additionalItems === false && !Array.isArray(node.items))) {
      return refuse(ctx, path, reason)
    }
  }
  const id = node.$id
  if (id === "/schemas/unknown" || id === "/schemas/any") {
    return refuse(ctx, path, "any value (Schema.Unknown, Schema.Any) cannot be expressed in strict mode: give it a type")
  }
  if (id === "/schemas/never") {
    return refuse(ctx, path, "Schema.Never (no value at all) cannot be expressed in strict mode")
  }
  if (id === "/schemas/%7B%7D" || id === "/schemas/{}" || id === "/schemas/object") {
    return refuse(ctx, path, "an object without named properties (Schema.Struct({}), Schema.Object) cannot be expressed in strict mode")
  }
  const allOf = node.allOf
  if (Array.isArray(allOf)) {
    const [only] = allOf
    if (allOf.length !== 1 || !isObject(only)) {
      return refuse(ctx, path, "`allOf` (an intersection) is not supported in strict mode")
    }
    const { allOf: _, ...rest } = node
    node = mergeInto(only, rest)
  }
  if (typeof node.$ref === "string") {
    const ref = node.$ref
    const target = resolveRef(ctx.root, ref)
    if (target === undefined) return refuse(ctx, path, `unresolvable reference ${JSON.stringify(ref)}`)
    const siblings = Object.keys(node).filter((key) =>
      key !== "$ref" && !silentlyDropped.has(key) && !keptAnnotations.includes(key)
    )
    if (siblings.length === 0) {
      if (Object.keys(node).some((key) => keptAnnotations.includes(key))) {
        note(ctx, path, "annotations next to a $ref dropped")
      }
      return { $ref: ref }
    }
    if (ctx.recursive.has(ref)) {
      note(ctx, path, `constraints next to the recursive ${ref} are checked when decoding only`)
      return { $ref: ref }
    }
    note(ctx, path, `${ref} inlined to keep the constraints next to it`)
    const { $ref: _, ...rest } = node
    return convert(ctx, mergeInto(target, rest), path, depth)
  }
  const out: Record<string, unknown> = {}
  for (const key of keptAnnotations) {
    if (typeof node[key] === "string") out[key] = node[key]
  }
  const union = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined
  if (union !== undefined) {
    if (Array.isArray(node.oneOf)) note(ctx, path, "oneOf sent as anyOf (exclusivity is checked when decoding)")
    const members = union.map((member, i) => convert(ctx, member, `${path}/${Array.isArray(node.anyOf) ? "anyOf" : "oneOf"}/${i}`, depth))
    // Effect's Schema.Enums: one single-value enum per member; strict mode takes one `enum`.
    const enumType = members.length > 0 && members.every((member) =>
        typeof member.type === "string" && Array.isArray(member.enum) && member.enum.length === 1
      ) && new Set(members.map((member) => member.type)).size === 1
      ? members[0]!.type
      : undefined
    if (enumType !== undefined) {
      return { ...out, type: enumType, enum: members.map((member) => (member.enum as ReadonlyArray<unknown>)[0]) }
    }
    return { ...out, anyOf: members }
  }
  if ("const" in node) return { ...out, const: node.const }
  const types = typesOf(node)
  const inferred = types.length > 0 ? types : isObject(node.properties) ? ["object"] : node.items !== undefined ? ["array"] : []
  if (Array.isArray(node.enum)) {
    return { ...out, ...(types.length > 0 ? { type: node.type } : {}), enum: node.enum }
  }
  if (inferred.length === 0) {
    return refuse(ctx, path, "any value (no `type`: Schema.Unknown, Schema.Any) cannot be expressed in strict mode: give it a type")
  }
  const nonNull = inferred.filter((type) => type !== "null")
  if (nonNull.length > 1 && (nonNull.includes("object") || nonNull.includes("array"))) {
    return refuse(ctx, path, "a `type` list with object or array members: write it as `anyOf`")
  }
  const main = nonNull[0] ?? "null"
  let converted: JsonObject
  switch (main) {
    case "object":
      converted = convertObject(ctx, node, path, depth)
      break
    case "array":
      converted = convertArray(ctx, node, path, depth)
      break
    case "string":
    case "number":
    case "integer":
    case "boolean":
    case "null":
      converted = { type: main }
      break
    default:
      return refuse(ctx, path, `unknown type ${JSON.stringify(main)}`)
  }
  for (const key of keptKeywords[main] ?? []) {
    if (key in node) (converted as Record<string, unknown>)[key] = node[key]
  }
  if (main === "string" && typeof node.format === "string") {
    if (supportedFormats.has(node.format)) (converted as Record<string, unknown>).format = node.format
    else note(ctx, path, `format ${JSON.stringify(node.format)} dropped (checked when decoding)`)
  }
  const handled = new Set([
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "format",
    ...keptAnnotations,
    ...(keptKeywords[main] ?? []),
    ...definitionKeys
  ])
  for (const key of Object.keys(node)) {
    if (!handled.has(key) && !silentlyDropped.has(key)) {
      note(ctx, path, `${key} dropped (checked when decoding)`)
    }
  }
  const typed = types.length > 1 ? { ...converted, type: types } : converted
  return { ...out, ...typed }
}

/**
 * Rewrites a JSON Schema for OpenAI's strict mode, or says why it cannot be (the first reason met).
 *
 * @internal
 */
export const toStrict = (input: unknown): Either.Either<Conversion, Refusal> => {
  if (!isObject(input)) return Either.left({ reason: "a JSON Schema must be an object", path: "/" })
  const ctx: Context = { root: input, notes: [], recursive: recursiveRefs(input), refusal: undefined, properties: 0 }
  // A root that only points into $defs (Effect's identifier annotation) is inlined: strict mode
  // wants the object itself at the root.
  let root = input
  for (let hops = 0; typeof root.$ref === "string" && hops < 32; hops++) {
    const target = resolveRef(input, root.$ref)
    if (target === undefined || root.$ref === "#") break
    const { $ref: _, ...rest } = root
    root = { ...target, ...rest }
  }
  const converted = convert(ctx, root, "", 1)
  if (ctx.refusal !== undefined) return Either.left(ctx.refusal)
  if (converted.type !== "object") {
    return Either.left({ reason: "the root must be an object in strict mode: wrap the value in a struct", path: "/" })
  }
  const out: Record<string, unknown> = { ...converted }
  for (const key of definitionKeys) {
    const definitions = input[key]
    if (!isObject(definitions)) continue
    // Only the definitions still referenced (inlining may have made some unused).
    const used = new Set<string>()
    const pending = [...refsIn(converted, new Set())]
    const convertedDefinitions: Record<string, unknown> = {}
    while (pending.length > 0) {
      const ref = pending.pop()!
      const prefix = `#/${key}/`
      if (!ref.startsWith(prefix)) continue
      const name = unescapeSegment(ref.slice(prefix.length))
      if (used.has(name) || !(name in definitions)) continue
      used.add(name)
      const definition = convert(ctx, definitions[name], `/${key}/${pointerSegment(name)}`, 1)
      convertedDefinitions[name] = definition
      pending.push(...refsIn(definition, new Set()))
    }
    if (ctx.refusal !== undefined) return Either.left(ctx.refusal)
    if (used.size > 0) out[key] = convertedDefinitions
  }
  return Either.right({ schema: out, notes: ctx.notes })
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Follows `$ref`s and one-member `allOf`s to the node that says what a value is. */
const deref = (root: JsonObject, node: unknown): JsonObject | undefined => {
  let current = node
  for (let hops = 0; hops < 32; hops++) {
    if (!isObject(current)) return undefined
    if (typeof current.$ref === "string") {
      current = resolveRef(root, current.$ref)
      continue
    }
    if (Array.isArray(current.allOf) && current.allOf.length === 1) {
      current = current.allOf[0]
      continue
    }
    return current
  }
  return undefined
}

/** The member of a union an object value belongs to: every key named, every required key present. */
const objectMember = (root: JsonObject, members: ReadonlyArray<unknown>, value: Readonly<Record<string, unknown>>) => {
  const keys = Object.keys(value)
  for (const member of members) {
    const node = deref(root, member)
    if (node === undefined || !isObject(node.properties)) continue
    const properties = node.properties
    const required = Array.isArray(node.required) ? node.required : []
    if (keys.every((key) => key in properties) && required.every((key) => typeof key === "string" && key in value)) {
      return node
    }
  }
  return undefined
}

/**
 * Undoes `toStrict`'s optional → nullable step on an answer: a `null` under a property that the
 * ORIGINAL schema (`root`) has optional and not nullable is removed, so the original schema (or the
 * Effect Schema it came from) reads it as absent.
 *
 * @internal
 */
export const removeAddedNulls = (root: JsonObject, value: unknown, node: unknown = root, depth = 0): unknown => {
  if (depth > 64) return value
  const schema = deref(root, node)
  if (schema === undefined) return value
  if (Array.isArray(value)) {
    return isObject(schema.items) ? value.map((item) => removeAddedNulls(root, item, schema.items, depth + 1)) : value
  }
  if (!isRecord(value)) return value
  const union = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined
  const target = union !== undefined ? objectMember(root, union, value) : schema
  if (target === undefined || !isObject(target.properties)) return value
  const properties = target.properties
  const required = Array.isArray(target.required) ? target.required : []
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    const property = properties[key]
    if (property === undefined) {
      out[key] = item
    } else if (item === null && !required.includes(key) && !acceptsNull(root, property)) {
      continue
    } else {
      out[key] = removeAddedNulls(root, item, property, depth + 1)
    }
  }
  return out
}
