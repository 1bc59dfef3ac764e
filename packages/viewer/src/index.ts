/**
 * FastLLM's local web viewer: a result file (or a live run) on a page served from 127.0.0.1.
 * Big files are indexed once (offsets and a compact per-line summary) and served a page at a time.
 *
 * @since 0.2.0
 */

/** @since 0.2.0 */
export * as Cost from "./Cost.js"
/** @since 0.2.0 */
export * as ResultIndex from "./ResultIndex.js"
/** @since 0.2.0 */
export * as LiveFeed from "./LiveFeed.js"
/** @since 0.2.0 */
export * as ViewerServer from "./ViewerServer.js"
