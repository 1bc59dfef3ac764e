/**
 * No import cycles in any package (issue 11): `madge --circular` over every `packages/* /src`, as a
 * test so that `npm test` (and CI) fails on a new cycle. Core counts type-only imports too; the
 * other packages count the imports that run (their `internal/` modules type-import the public
 * module they implement, as Effect's own packages do).
 */
import { assert, describe, it } from "@effect/vitest"
import madge from "madge"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const packages = fs.readdirSync(path.join(root, "packages")).filter((name) =>
  fs.existsSync(path.join(root, "packages", name, "src"))
)

const cycles = async (dir: string, skipTypeImports: boolean): Promise<ReadonlyArray<ReadonlyArray<string>>> => {
  const graph = await madge(dir, {
    fileExtensions: ["ts"],
    detectiveOptions: { ts: { skipTypeImports }, tsx: { skipTypeImports } }
  })
  return graph.circular()
}

describe("import cycles", () => {
  it("the check finds a cycle when there is one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-cycle-"))
    try {
      fs.writeFileSync(path.join(dir, "a.ts"), `import { b } from "./b.js"\nexport const a = () => b\n`)
      fs.writeFileSync(path.join(dir, "b.ts"), `import type { a } from "./a.js"\nexport const b: typeof a | 1 = 1\n`)
      assert.deepStrictEqual(await cycles(dir, false), [["a.ts", "b.ts"]])
      assert.deepStrictEqual(await cycles(dir, true), [])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("core has none, type-only imports included", async () => {
    assert.deepStrictEqual(await cycles(path.join(root, "packages/core/src"), false), [])
  }, 60_000)

  it.each(packages.filter((name) => name !== "core"))("%s has none among the imports that run", async (name) => {
    assert.deepStrictEqual(await cycles(path.join(root, "packages", name, "src"), true), [])
  }, 60_000)
})
