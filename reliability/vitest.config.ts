import { defineProject } from "vitest/config"

// Real sockets, real child processes and real disk caches: each test is bounded by its own
// timeout; the whole project stays well under ~90 s on a 2-core machine.
export default defineProject({
  test: {
    name: "@fastllm/reliability",
    testTimeout: 60_000,
    hookTimeout: 30_000
  }
})
