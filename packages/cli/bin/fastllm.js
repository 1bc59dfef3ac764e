#!/usr/bin/env node
// Runs the bundled command (dist/fastllm.mjs, made by `npm run build`, which `npm ci` runs through
// the root `prepare` script) when it is newer than every source file of the workspace; otherwise
// runs the TypeScript sources through tsx, so edits take effect without a rebuild.
// FASTLLM_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from "node:fs"
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
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/bin.ts")
}
