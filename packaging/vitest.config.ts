import { defineProject } from "vitest/config"

// npm pack, npm install into three fresh projects and a global prefix (in parallel, one shared
// npm cache), then plain `node`: about 100 s of CPU, 1.5 to 3 minutes on this shared 2-core machine.
export default defineProject({
  test: {
    name: "@fastllm/packaging",
    include: ["*.test.ts"], // fixtures/app/*.test.ts run inside the fresh projects, not here
    testTimeout: 300_000,
    hookTimeout: 300_000
  }
})
