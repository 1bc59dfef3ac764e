/**
 * A persistent `Cache` on LMDB: answered requests survive the process, so rerunning a finished or
 * crashed batch costs nothing for the items already answered.
 *
 * - Entries expire at an absolute time from their write (`timeToLive`, per entry or default);
 *   expired entries are misses, removed lazily on read and in bulk by `prune`.
 * - `maxEntries` bounds the store: past it, the oldest-written entries go (down to 90%).
 * - Values are the `ApiResponse` encoded with its Schema, behind a header with a format version;
 *   an entry of another version, or one that no longer decodes, is a miss, never a crash.
 * - A `set` is acknowledged once LMDB has committed it, so a killed process never loses an
 *   acknowledged entry and never leaves a corrupt store; concurrent sets share one transaction.
 * - Several processes may use one path at once and see each other's entries.
 * - Every failure is a `CacheError` naming the path and the cause.
 *
 * @since 0.1.0
 */
import type { Cache, LLMError } from "@fastllm/core"
import { Cache as CoreCache } from "@fastllm/core"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/diskCache.js"

/**
 * Options of the disk cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * A directory (created with its parents) that holds `cache.mdb` and `cache.mdb-lock`, or the
   * path of an existing LMDB data file.
   */
  readonly path: string
  /** Default expiry, absolute from the write. Default: never. */
  readonly timeToLive?: Duration.DurationInput | undefined
  /** Size bound: past it the oldest-written entries are evicted, down to 90% of the bound. */
  readonly maxEntries?: number | undefined
  /**
   * When a `set` counts as done. `"commit"` (default): the LMDB transaction has committed, which
   * survives a crash or SIGKILL of the process (the OS holds the written pages). `"flush"`: the
   * commit is also synced to the disk, which survives power loss, at the cost of one fsync per
   * batch of writes.
   */
  readonly durability?: "commit" | "flush" | undefined
  /**
   * How long (real time) a write may take to commit before it fails with a `CacheError`.
   * Default 30 seconds. A failing disk can leave LMDB's commit unanswered; this bounds the wait.
   */
  readonly writeTimeout?: Duration.DurationInput | undefined
}

/**
 * The disk cache's own tag, for the operations beyond `Cache`: `size`, `prune` and `path`.
 * `layer` provides it next to `Cache`.
 *
 * @since 0.1.0
 * @category tags
 */
export class DiskCache extends Context.Tag("@fastllm/cache-disk/DiskCache")<DiskCache, DiskCache.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace DiskCache {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service extends Cache.Cache.Service {
    /** The LMDB data file in use. */
    readonly path: string
    /** The number of stored entries, expired ones included until they are pruned. */
    readonly size: Effect.Effect<number, LLMError.CacheError>
    /**
     * Removes every expired entry and every entry of another format version (a full scan of the
     * headers, bodies are not parsed); succeeds with how many were removed.
     */
    readonly prune: Effect.Effect<number, LLMError.CacheError>
  }
}

/**
 * Opens (or creates) the cache at `options.path`; the store is closed when the scope ends. Fails
 * with a `CacheError` naming the path and the cause when the path is not writable, is not a
 * directory, or holds a file that is not an LMDB cache (corrupt or foreign).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<DiskCache.Service, LLMError.CacheError, Scope.Scope> =
  internal.make

/**
 * The disk cache as a layer providing both `Cache` (what the RequestManager uses) and
 * {@link DiskCache} (for `prune` and `size`).
 *
 * @example
 * ```ts
 * import { DiskCache } from "@fastllm/cache-disk"
 * import { Provider, RequestManager } from "@fastllm/core"
 * import * as Layer from "effect/Layer"
 *
 * declare const provider: Layer.Layer<Provider.Provider>
 * const Live = RequestManager.layer().pipe(
 *   Layer.provide(provider),
 *   Layer.provide(DiskCache.layer({ path: ".fastllm-cache", timeToLive: "30 days" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<CoreCache.Cache | DiskCache, LLMError.CacheError> =>
  Layer.scopedContext(
    Effect.map(internal.make(options), (service) => Context.make(DiskCache, service).pipe(Context.add(CoreCache.Cache, service)))
  )

/**
 * {@link layer} with its options read from `Config`.
 *
 * @example
 * ```ts
 * import { DiskCache } from "@fastllm/cache-disk"
 * import * as Config from "effect/Config"
 *
 * const CacheLive = DiskCache.layerConfig({
 *   path: Config.string("FASTLLM_CACHE_PATH").pipe(Config.withDefault(".fastllm-cache")),
 *   timeToLive: Config.duration("FASTLLM_CACHE_TTL").pipe(Config.withDefault("30 days"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<CoreCache.Cache | DiskCache, LLMError.CacheError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(options), layer))
