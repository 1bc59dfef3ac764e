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
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const dist = (name) => fileURLToPath(new URL(`../dist/${name}`, import.meta.url))
const require = createRequire(import.meta.url)

// The viewer's page (@fastllm/viewer's static/ and uPlot's two files) ships inside the CLI, in
// dist/viewer/: a global install has neither package (optional peer; uPlot is the viewer's
// dependency), so the bundled ViewerServer is pointed there instead of resolving the packages.
// packaging/install.test.ts serves the page from a global install.
const viewerPackage = path.dirname(require.resolve("@fastllm/viewer/package.json"))
const uplotFile = createRequire(path.join(viewerPackage, "package.json")).resolve("uplot/dist/uPlot.iife.min.js")
fs.rmSync(dist("viewer"), { recursive: true, force: true })
fs.cpSync(path.join(viewerPackage, "static"), dist("viewer/static"), { recursive: true })
fs.mkdirSync(dist("viewer/uplot"))
for (const name of ["uPlot.iife.min.js", "uPlot.min.css", "../LICENSE"]) {
  fs.copyFileSync(path.join(path.dirname(uplotFile), name), dist(`viewer/uplot/${path.basename(name)}`))
}
const viewerAssets = {
  name: "viewer-assets",
  setup(build) {
    build.onLoad({ filter: /[\\/]viewer[\\/]dist[\\/]ViewerServer\.js$/ }, (args) => {
      const replacements = [
        // only the directory of the viewer's package.json is used (its static/ is next to it)
        ['require.resolve("@fastllm/viewer/package.json")', 'require("node:path").join(__dirname, "viewer", "package.json")'],
        ['require.resolve("uplot/dist/uPlot.iife.min.js")', 'require("node:path").join(__dirname, "viewer", "uplot", "uPlot.iife.min.js")']
      ]
      let contents = fs.readFileSync(args.path, "utf8")
      for (const [from, to] of replacements) {
        if (!contents.includes(from)) throw new Error(`${args.path} no longer has ${from}: update scripts/build.mjs`)
        contents = contents.replace(from, to)
      }
      return { contents, loader: "js" }
    })
  }
}

await build({
  entryPoints: [dist("bin.js")],
  outfile: dist("fastllm.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  supported: { "dynamic-import": false },
  // The loader passes the bundle's file URL in (no banner: "use strict" must stay the bundle's first statement).
  define: { "import.meta.url": "__fastllmBundleUrl" },
  external: ["lmdb", "gpt-tokenizer"],
  // No comments or indentation (names stay: stack traces still say which function), the licence
  // comments in dist/fastllm.cjs.LEGAL.txt: a smaller file, and ASCII, which the loader reads as
  // latin1 (one byte a character, ~2x cheaper than decoding UTF-8 here).
  minifyWhitespace: true,
  legalComments: "external",
  charset: "ascii",
  plugins: [viewerAssets],
  logLevel: "warning"
})

// What esbuild leaves non-ASCII (a regex literal's "µs") becomes \uXXXX, the same character in
// every place code can hold one now that comments are gone (strings, templates, regular expressions).
const text = fs.readFileSync(dist("fastllm.cjs"), "utf8")
  .replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
fs.writeFileSync(dist("fastllm.cjs"), text)
const bundle = fs.readFileSync(dist("fastllm.cjs"))
if (bundle.some((byte) => byte > 127)) throw new Error("dist/fastllm.cjs is not ASCII: the loader reads it as latin1")
const loader = fs.readFileSync(new URL("./loader.mjs", import.meta.url), "utf8")
if (!loader.includes("\"BUNDLE_HASH\"")) throw new Error("scripts/loader.mjs lost its BUNDLE_HASH placeholder")
const hash = createHash("sha256").update(bundle).digest("hex").slice(0, 32)
fs.writeFileSync(dist("fastllm.mjs"), loader.replace("\"BUNDLE_HASH\"", JSON.stringify(hash)))
