const nothingKept = new WeakSet<object>()

/**
 * Marks a cache service that keeps nothing (`Cache.none`): the RequestManager then runs without a
 * cache, as with `cache: false`, instead of asking it (and never finding) every item. A `get` and
 * a `set` per item through `Cache.none` cost ~10 effect operations
 * (`npx tsx bench/lib/opCount.ts --base e5531d1`). No imports: Cache.ts and RequestManager.ts
 * both use it.
 *
 * @internal
 */
export const keepingNothing = <A extends object>(cache: A): A => {
  nothingKept.add(cache)
  return cache
}

/** Whether `cache` keeps nothing (see {@link keepingNothing}). @internal */
export const keepsNothing = (cache: object): boolean => nothingKept.has(cache)
