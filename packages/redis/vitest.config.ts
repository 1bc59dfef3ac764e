import { defineProject } from "vitest/config"

// Real Redis round trips on a shared 2-core machine: the cache contract's sequential loops
// (1,000 gets one after another) need more than vitest's 5 s default when the machine is busy.
export default defineProject({
  test: { name: "@fastllm/redis", testTimeout: 30_000, hookTimeout: 30_000 }
})
