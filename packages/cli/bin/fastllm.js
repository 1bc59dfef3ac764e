#!/usr/bin/env node
// The `fastllm` command. Installed from npm, it runs dist/fastllm.mjs, which runs the compiled command
// bundled into one file by scripts/build.mjs (dist/fastllm.cjs) with V8's code cache (its startup
// costs ~2.3x less CPU than loading the compiled modules of every dependency one by one; see
// CONTRIBUTING.md). In a checkout of the repository
// (scripts/ exists there, it is not published) scripts/checkout.mjs decides: the bundle while it is
// newer than every source file, else the TypeScript sources through tsx.
import { existsSync } from "node:fs"

const checkout = new URL("../scripts/checkout.mjs", import.meta.url)
await import(existsSync(checkout) ? checkout.href : "../dist/fastllm.mjs")
