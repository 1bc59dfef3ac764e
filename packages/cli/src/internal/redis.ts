// @fastllm/redis (and ioredis, which its connection module imports at load) for the Redis
// commands (`run --redis`, `worker`, `jobs`), imported when one of them runs: every other run and
// `--help` skip evaluating them (`npx tsx bench/startup.ts`: a one-line cached run;
// bench/results/issue-18-startup.md).
import * as Effect from "effect/Effect"

/** The @fastllm/redis module, imported on first use. */
export const load = Effect.promise(() => import("@fastllm/redis"))
