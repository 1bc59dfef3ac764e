/**
 * The building blocks of the hand-written guards (requestGuard.ts, responseGuard.ts): predicates
 * that say whether a JSON value has a shape, composed like the Schema they mirror. Each guard
 * module keeps its own `struct`, because the two read structs differently (see each).
 *
 * @internal
 */
export type Guard = (u: unknown) => boolean

/** @internal */
export const isString: Guard = (u) => typeof u === "string"
/** @internal */
export const isNumber: Guard = (u) => typeof u === "number"
/** @internal */
export const optional = (guard: Guard): Guard => (u) => u === undefined || guard(u)
/** @internal */
export const optionalNullable = (guard: Guard): Guard => (u) => u === undefined || u === null || guard(u)
/** @internal */
export const arrayOf = (guard: Guard): Guard => (u) => {
  if (!Array.isArray(u)) return false
  for (let i = 0; i < u.length; i++) if (!guard(u[i])) return false
  return true
}
