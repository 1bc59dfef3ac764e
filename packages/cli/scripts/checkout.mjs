// How bin/fastllm.js runs in a checkout of the repository: the bundle (dist/fastllm.mjs, made by
// `npm run build`, which `npm ci` runs through the root `prepare` script) when it is newer than
// every source file of the workspace; otherwise the TypeScript sources through tsx, importing the
// workspace packages from their sources too (the "@fastllm/source" export condition), so edits
// take effect without a rebuild. FASTLLM_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from "node:fs"
import { register } from "node:module"
import { fileURLToPath } from "node:url"

const dist = fileURLToPath(new URL("../dist/fastllm.mjs", import.meta.url))
const packagesDir = fileURLToPath(new URL("../../", import.meta.url))

const newestSource = (dir) => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path))
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

const bundleIsFresh = () => {
  if (process.env.FASTLLM_FROM_SOURCE === "1" || !existsSync(dist)) return false
  const built = statSync(dist).mtimeMs
  for (const name of readdirSync(packagesDir)) {
    const src = `${packagesDir}${name}/src`
    if (existsSync(src) && newestSource(src) > built) return false
  }
  return true
}

if (bundleIsFresh()) {
  await import(dist)
} else {
  const tsx = await import("tsx/esm/api")
  tsx.register()
  // Registered after tsx, so it runs first: adds the condition even without
  // NODE_OPTIONS=--conditions=@fastllm/source (which the repository's .npmrc sets for npm scripts).
  register("./sourceCondition.mjs", import.meta.url)
  await import("../src/bin.ts")
}
