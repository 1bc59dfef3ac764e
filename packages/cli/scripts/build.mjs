// Bundles the compiled command (dist/bin.js, made by `tsc -b tsconfig.build.json`) with everything
// it imports into one file, dist/fastllm.cjs, with esbuild, and writes dist/fastllm.mjs
// (scripts/loader.mjs), which runs it with V8's code cache; bin/fastllm.js imports that.
// Measured on this machine (`/usr/bin/time -f "%U+%S" node packages/cli/dist/fastllm.mjs --help`,
// against `node packages/cli/dist/bin.js --help`): one bundle costs 0.83 s of CPU to start instead
// of 1.95 s, resident memory 94 MB instead of 126 MB; the compiled modules of effect alone are
// some hundreds of files. The code cache, `npx tsx bench/startup.ts`: see loader.mjs.
//
// The bundle is CommonJS so that the loader can run it as a `vm.Script` (the one way to hand V8 a
// code cache on Node 20); `import.meta.url` becomes the bundle's file URL, and `import()` of what
// stays outside becomes `require` (Node 20.19+ requires ES modules too). Modules the sources load
// with `import()` are still evaluated only when that runs (esbuild's lazy module wrappers).
// `lmdb` stays outside the bundle (a dependency of @fastllm/cli): it loads a native addon;
// gpt-tokenizer too (5.8 MB, only for `fastllm estimate`).
import { build } from "esbuild"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const dist = (name) => fileURLToPath(new URL(`../dist/${name}`, import.meta.url))

await build({
  entryPoints: [dist("bin.js")],
  outfile: dist("fastllm.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  supported: { "dynamic-import": false },
  define: { "import.meta.url": "__fastllmBundleUrl" },
  banner: { js: "const __fastllmBundleUrl = require(\"node:url\").pathToFileURL(__filename).href;" },
  external: ["lmdb", "gpt-tokenizer"],
  logLevel: "warning"
})

const bundle = fs.readFileSync(dist("fastllm.cjs"))
const loader = fs.readFileSync(new URL("./loader.mjs", import.meta.url), "utf8")
if (!loader.includes("\"BUNDLE_HASH\"")) throw new Error("scripts/loader.mjs lost its BUNDLE_HASH placeholder")
const hash = createHash("sha256").update(bundle).digest("hex").slice(0, 32)
fs.writeFileSync(dist("fastllm.mjs"), loader.replace("\"BUNDLE_HASH\"", JSON.stringify(hash)))
