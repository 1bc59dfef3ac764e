import { existsSync } from "node:fs"
import * as path from "node:path"
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config"
import { redisProjects } from "./packages/redis/test/fixtures/available.js"

// Workspace packages are imported from their TypeScript sources (the "@fastllm/source" export
// condition of each package.json), so tests need no build; published packages resolve to dist/.
const fromSource = { ssr: { resolve: { conditions: ["@fastllm/source", "node", "development|production"] } } }

// One project per folder (its own vitest.config.ts when it has one), named after the folder.
const project = (dir: string): TestProjectInlineConfiguration =>
  existsSync(`${dir}/vitest.config.ts`)
    ? { ...fromSource, extends: `./${dir}/vitest.config.ts`, test: { root: dir } }
    : { ...fromSource, test: { name: `@fastllm/${path.basename(dir)}`, root: dir } }

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
      ...(await redisProjects()), // packages/redis, when a Redis answers (always in CI)
      "packages/cli",
      "examples",
      "reliability",
      "packaging"
    ].map(project)
  }
})
