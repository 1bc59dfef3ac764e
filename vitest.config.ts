import { defineConfig } from "vitest/config"

// `test.projects` is vitest 3.2's spelling of the old vitest.workspace.ts: one project per package,
// plus the examples (their tests run the example programs against the local server).
export default defineConfig({
  test: {
    projects: [
      "packages/core",
      "packages/testing",
      "packages/provider-openai",
      "packages/cache-disk",
      "packages/viewer",
      "packages/cli",
      "examples",
      "reliability"
    ]
  }
})
