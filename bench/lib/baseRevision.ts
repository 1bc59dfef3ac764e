/**
 * An earlier revision of the library next to this checkout's, for old-against-new benches in one
 * process (bench/lib/libSteps.ts, bench/lib/streamSteps.ts): `extract(REV)` writes its core,
 * provider-openai and cache-disk sources (`git archive`) into bench/out/base-REV, their imports of
 * each other rewired; `load` imports them (or this checkout's packages).
 *
 * @since 0.2.0
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

type Core = typeof import("@fastllm/core")
type ProviderPackage = typeof import("@fastllm/provider-openai")
type DiskPackage = typeof import("@fastllm/cache-disk")

/** A version of the library: its core, provider-openai and cache-disk packages. */
export interface Stack {
  readonly core: Core
  readonly openai: ProviderPackage
  readonly disk: DiskPackage
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..")

/** The base revision's core, provider-openai and cache-disk sources, wired to each other. */
export const extract = (revision: string): string => {
  const sha = execFileSync("git", ["rev-parse", "--short", revision], { cwd: root, encoding: "utf8" }).trim()
  const dir = path.join(root, "bench/out", `base-${sha}`)
  if (!fs.existsSync(path.join(dir, "packages/core/src/index.ts"))) {
    fs.mkdirSync(dir, { recursive: true })
    const archive = execFileSync("git", [
      "archive",
      sha,
      "packages/core/src",
      "packages/provider-openai/src",
      "packages/cache-disk/src"
    ], { cwd: root, maxBuffer: 1 << 28 })
    execFileSync("tar", ["-x", "-C", dir], { input: archive })
    for (const pkg of ["provider-openai", "cache-disk"]) {
      const walk = (at: string): void => {
        for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
          const file = path.join(at, entry.name)
          if (entry.isDirectory()) walk(file)
          else if (file.endsWith(".ts")) {
            const core = path.relative(path.dirname(file), path.join(dir, "packages/core/src/index.js"))
            const text = fs.readFileSync(file, "utf8").replace(/from "@fastllm\/core"/g, `from "${core.startsWith(".") ? core : `./${core}`}"`)
            fs.writeFileSync(file, text)
          }
        }
      }
      walk(path.join(dir, "packages", pkg, "src"))
    }
  }
  return dir
}

/** A base revision's packages (from `extract`), or this checkout's (undefined). */
export const load = async (dir: string | undefined): Promise<Stack> => {
  if (dir === undefined) {
    return { core: await import("@fastllm/core"), openai: await import("@fastllm/provider-openai"), disk: await import("@fastllm/cache-disk") }
  }
  const from = (pkg: string) => pathToFileURL(path.join(dir, "packages", pkg, "src/index.ts")).href
  return {
    core: await import(from("core")) as Core,
    openai: await import(from("provider-openai")) as ProviderPackage,
    disk: await import(from("cache-disk")) as DiskPackage
  }
}
