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
// lmdb's JavaScript is bundled, its native addons load from the installed packages (`bundled-lmdb`
// below); gpt-tokenizer stays outside (5.8 MB, only for `fastllm estimate`), and the price table is
// a file of its own next to the bundle (dist/genai-prices.cjs, `lazy-genai-prices` below).
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

// @pydantic/genai-prices evaluates its price table (an 830 kB module, one array literal of every
// provider's models) when it loads; @fastllm/core's Cost module imports it, and every command
// imports core. Bundled, it is evaluated when its first function is called instead: a run whose
// answers are all cached, `--help` and most commands never price anything. Cost.js calls only
// `calcPrice` (checked here: the build fails when core uses more of it). Measured with
// `npx tsx bench/startup.ts` (a one-line cached run; bench/results/issue-18-startup.md).
const pricesEntry = createRequire(fileURLToPath(new URL("../../core/package.json", import.meta.url)))
  .resolve("@pydantic/genai-prices")
  .replace(/index\.cjs$/, "index.js")
const coreDist = fileURLToPath(new URL("../../core/dist/", import.meta.url))
for (const name of fs.readdirSync(coreDist, { recursive: true })) {
  if (!String(name).endsWith(".js")) continue
  const code = fs.readFileSync(path.join(coreDist, String(name)), "utf8")
  if (!code.includes("@pydantic/genai-prices")) continue
  const used = new Set([...code.matchAll(/GenaiPrices\.(\w+)/g)].map((match) => match[1]))
  if (!/import \* as GenaiPrices from "@pydantic\/genai-prices"/.test(code) || [...used].some((used) => used !== "calcPrice")) {
    throw new Error(`core/dist/${name} uses more of @pydantic/genai-prices than calcPrice: update scripts/build.mjs`)
  }
}
const lazyPrices = {
  name: "lazy-genai-prices",
  setup(build) {
    build.onResolve({ filter: /^@pydantic\/genai-prices$/ }, () => ({ path: "genai-prices", namespace: "lazy-genai-prices" }))
    build.onLoad({ filter: /.*/, namespace: "lazy-genai-prices" }, () => ({
      // esbuild evaluates a `require`d ES module on that require's first call
      // in a file of its own next to the bundle (dist/genai-prices.cjs, required relative to the
      // bundle's file): its 480 kB are not read with the bundle on every start-up (~4 ms of CPU here)
      contents: `const file = "./genai-prices.cjs"\nlet prices\nexport const calcPrice = (...args) => (prices ??= require(file)).calcPrice(...args)\n`,
      resolveDir: path.dirname(pricesEntry),
      loader: "js"
    }))
  }
}

// The provider's transport (provider-openai's internal/undiciHttpClient.js) uses two classes of
// undici, `Agent` and `EnvHttpProxyAgent`; undici's index loads all of it (fetch, cookies,
// websockets, mocks, caches: ~2/3 of its evaluation). The transport gets a module with just those
// two classes and what the index does to them (checked here: the build fails when it uses more). Measured with `npx tsx bench/startup.ts`
// (a one-line cached run; bench/results/issue-18-startup.md).
const transportFile = /[\\/]provider-openai[\\/]dist[\\/]internal[\\/]undiciHttpClient\.js$/
const undiciDir = path.dirname(createRequire(fileURLToPath(new URL("../../provider-openai/package.json", import.meta.url))).resolve("undici/package.json"))
const transportUses = ["Agent", "EnvHttpProxyAgent"]
{
  const transport = fs.readFileSync(fileURLToPath(new URL("../../provider-openai/dist/internal/undiciHttpClient.js", import.meta.url)), "utf8")
  const used = new Set([...transport.matchAll(/\bUndici\.(\w+)/g)].map((match) => match[1]))
  if (!/import \* as Undici from "undici"/.test(transport) || [...used].some((name) => !transportUses.includes(name))) {
    throw new Error(`provider-openai's undiciHttpClient.js uses ${[...used].join(", ")} of undici: update scripts/build.mjs`)
  }
}
// undici's Client loads its HTTP/2 module (and with it node:http2, ~6 ms of CPU: builtins are
// compiled when first required) when it loads, for connections that negotiate h2, which the
// transport never asks for (undici's allowH2 is off by default): it is required on the first such
// connection instead (the module defines functions only). `npx tsx bench/startup.ts`.
const undiciClientFile = path.join(undiciDir, "lib", "dispatcher", "client.js")
const eagerH2 = "const connectH2 = require('./client-h2.js')"
const lazyH2 = "const connectH2 = (client, socket) => require('./client-h2.js')(client, socket)"
const slimUndici = {
  name: "slim-undici",
  setup(build) {
    build.onLoad({ filter: /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client\.js$/ }, (args) => {
      if (args.path !== undiciClientFile) return undefined
      const contents = fs.readFileSync(args.path, "utf8")
      if (contents.split(eagerH2).length !== 2 || contents.split("connectH2").length !== 3) {
        throw new Error(`${args.path} no longer loads client-h2.js as scripts/build.mjs expects: update it`)
      }
      return { contents: contents.replace(eagerH2, lazyH2), loader: "js", resolveDir: path.dirname(args.path) }
    })
    build.onResolve({ filter: /^undici$/ }, (args) =>
      transportFile.test(args.importer) ? { path: "undici", namespace: "slim-undici" } : undefined)
    build.onLoad({ filter: /.*/, namespace: "slim-undici" }, () => ({
      // what undici's index does besides exporting: the request/connect/... methods on every
      // dispatcher (a proxy's CONNECT uses them) and the global dispatcher
      contents: "Object.assign(require(\"./lib/dispatcher/dispatcher.js\").prototype, require(\"./lib/api/index.js\"))\n" +
        "require(\"./lib/global.js\")\n" +
        "module.exports = {\n" +
        "  Agent: require(\"./lib/dispatcher/agent.js\"),\n" +
        "  EnvHttpProxyAgent: require(\"./lib/dispatcher/env-http-proxy-agent.js\")\n" +
        "}\n",
      resolveDir: undiciDir,
      loader: "js"
    }))
  }
}


// lmdb's JavaScript (and msgpackr, ordered-binary, weak-lru-cache, its addon loader) goes into the
// bundle, so into the code cache; only its native addons are loaded from the installed packages.
// Loaded from node_modules, `require("lmdb")` cost 35–48 ms of CPU on every cached run (resolving six
// packages' exports, reading and compiling them); bundled, the one-line cached run: `npx tsx
// bench/startup.ts --runs 11 --lines 0 --before <bundle>` (bench/results/issue-18-startup.md).
// At run time the bundle resolves the installed lmdb from its own directory (as the external
// `require("lmdb")` did) and uses its bundled copy only when that is the version it was built
// from (lmdb's JavaScript and addon go together); its addon, its dictionary and msgpackr's addon
// (msgpackr-extract) are found from the installed lmdb's path, as lmdb itself finds them.
// Any other version, or no lmdb found that way, loads the installed lmdb as before.
const cacheDiskRequire = createRequire(fileURLToPath(new URL("../../cache-disk/package.json", import.meta.url)))
const lmdbEntry = cacheDiskRequire.resolve("lmdb")
const lmdbVersion = JSON.parse(fs.readFileSync(path.join(path.dirname(lmdbEntry), "..", "package.json"), "utf8")).version
const msgpackrEntry = createRequire(lmdbEntry).resolve("msgpackr")
const lmdbFileRef = "__filename"
// msgpackr-extract's index.js: the bundle does the same with its own copy of the addon loader
const extractIndex = "module.exports = require('node-gyp-build-optional-packages')(__dirname);"
if (fs.readFileSync(createRequire(msgpackrEntry).resolve("msgpackr-extract"), "utf8").trim() !== extractIndex) {
  throw new Error("msgpackr-extract's index.js is no longer the one line the bundle repeats: update scripts/build.mjs")
}
const lmdbInstalled = `
const fs = require("node:fs")
const path = require("node:path")
// The directory (real path) and package.json of the package \`name\` as Node's require finds it from
// a file in \`from\`: the first node_modules/\`name\` of \`from\` and the directories above it.
// Undefined when none is found that way or one is found without a package.json (the callers then
// leave it to require). Node's resolver costs several ms here (the first resolution, realpath of
// every path component); this is a read and one realpath(3).
const findPackage = (from, name) => {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== "node_modules") {
      const candidate = path.join(dir, "node_modules", name)
      try {
        const manifest = JSON.parse(fs.readFileSync(path.join(candidate, "package.json"), "utf8"))
        return { dir: fs.realpathSync.native(candidate), manifest }
      } catch {
        if (fs.existsSync(candidate)) return undefined
      }
    }
    if (path.dirname(dir) === dir) return undefined
  }
}
// the installed lmdb, as the bundle's require("lmdb") finds it (createRequire of the bundle's file)
const lmdb = findPackage(__dirname, "lmdb")
const file = lmdb !== undefined && lmdb.manifest.name === "lmdb" && lmdb.manifest.version === ${JSON.stringify(lmdbVersion)} &&
    lmdb.manifest.exports?.["."]?.node?.require === "./dist/index.cjs"
  ? path.join(lmdb.dir, "dist", "index.cjs")
  : undefined
exports.file = file
// msgpackr's \`require("msgpackr-extract")\`, from the installed msgpackr; its index.js (one line) is
// run with the bundled addon loader (not loaded with its own copy and detect-libc from node_modules)
exports.requireExtract = () => {
  const msgpackr = findPackage(path.dirname(file), "msgpackr")
  const extract = msgpackr && findPackage(path.join(msgpackr.dir, "dist"), "msgpackr-extract")
  const index = extract && extract.manifest.exports === undefined && extract.manifest.main === "./index.js"
    ? path.join(extract.dir, "index.js")
    : undefined
  if (index !== undefined && fs.readFileSync(index, "utf8").trim() === ${JSON.stringify(extractIndex)}) {
    return require("node-gyp-build-optional-packages")(extract.dir)
  }
  const { createRequire } = require("node:module")
  return createRequire(createRequire(file).resolve("msgpackr"))("msgpackr-extract")
}
// the addon loader's platform package (@lmdb/lmdb-linux-x64 ...): the directory of its index.js
exports.platformPackage = (dir, name) => {
  const found = findPackage(dir, name)
  return found !== undefined && found.manifest.exports === undefined && found.manifest.main === undefined &&
      fs.existsSync(path.join(found.dir, "index.js"))
    ? found.dir
    : undefined
}
`
// The addon loader (node-gyp-build-optional-packages) reads a package's name from its package.json
// (require of a JSON file: the resolver) and finds the platform package (@lmdb/lmdb-linux-x64) with
// createRequire(...).resolve: both the same with a file read and a node_modules lookup; the
// platform package's resolve stays when the lookup does not find it.
const gypBuildFile = createRequire(lmdbEntry).resolve("node-gyp-build-optional-packages/node-gyp-build.js")
const gypBuildReplacements = [
  ["runtimeRequire(path.join(dir, 'package.json')).name", "JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name"],
  [
    "var prebuildPackage = path.dirname(require('module').createRequire(url.pathToFileURL(path.join(dir, 'package.json'))).resolve(platformPackage))",
    "var prebuildPackage = require(\"fastllm-lmdb-installed\").platformPackage(dir, platformPackage) ?? path.dirname(require('module').createRequire(url.pathToFileURL(path.join(dir, 'package.json'))).resolve(platformPackage))"
  ]
]
const bundledLmdb = {
  name: "bundled-lmdb",
  setup(build) {
    build.onResolve({ filter: /^lmdb$/ }, () => ({ path: "lmdb", namespace: "bundled-lmdb" }))
    build.onResolve({ filter: /^fastllm-lmdb-installed$/ }, () => ({ path: "installed", namespace: "bundled-lmdb" }))
    build.onLoad({ filter: /^lmdb$/, namespace: "bundled-lmdb" }, () => ({
      contents: `const name = "lmdb"\nmodule.exports = require("fastllm-lmdb-installed").file === undefined ? require(name) : require(${JSON.stringify(lmdbEntry)})\n`,
      resolveDir: path.dirname(lmdbEntry),
      loader: "js"
    }))
    build.onLoad({ filter: /^installed$/, namespace: "bundled-lmdb" }, () => ({ contents: lmdbInstalled, resolveDir: path.dirname(lmdbEntry), loader: "js" }))
    build.onLoad({ filter: /.*/ }, (args) => {
      if (args.path === gypBuildFile) {
        let contents = fs.readFileSync(args.path, "utf8")
        for (const [from, to] of gypBuildReplacements) {
          if (!contents.includes(from)) throw new Error(`${args.path} no longer has ${from}: update scripts/build.mjs`)
          contents = contents.replace(from, to)
        }
        return { contents, loader: "js", resolveDir: path.dirname(args.path) }
      }
      if (args.path !== lmdbEntry && args.path !== msgpackrEntry) return undefined
      const contents = fs.readFileSync(args.path, "utf8")
      // lmdb: its own file's path (the addon's package, dict/, createRequire) is the installed one;
      // msgpackr: msgpackr-extract is the one the installed lmdb's msgpackr finds
      const [from, to, count] = args.path === lmdbEntry
        ? [lmdbFileRef, `require("fastllm-lmdb-installed").file`, 3]
        : ["require('msgpackr-extract')", `require("fastllm-lmdb-installed").requireExtract()`, 1]
      const found = contents.split(from).length - 1
      if (found !== count) throw new Error(`${args.path} has ${found} of ${from}, not ${count}: update scripts/build.mjs`)
      return { contents: contents.replaceAll(from, to), loader: "js", resolveDir: path.dirname(args.path) }
    })
  }
}

await build({
  entryPoints: [pricesEntry],
  outfile: dist("genai-prices.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minifyWhitespace: true,
  legalComments: "external",
  logLevel: "warning"
})
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
  external: ["gpt-tokenizer", "bun:ffi"],
  // No comments or indentation (names stay: stack traces still say which function), the licence
  // comments in dist/fastllm.cjs.LEGAL.txt: a smaller file, and ASCII, which the loader reads as
  // latin1 (one byte a character, ~2x cheaper than decoding UTF-8 here).
  minifyWhitespace: true,
  legalComments: "external",
  charset: "ascii",
  plugins: [viewerAssets, lazyPrices, slimUndici, bundledLmdb],
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

// Precomputed help, dist/fastllm-help.json: the loader prints it for an exact help request
// (`fastllm --help`, `fastllm run -h`, `fastllm batches list --help`, ...) without loading the
// bundle. Building @effect/cli's command tree alone costs ~2.3x a bare `node -e ''` of CPU
// (bench/lib/cliFloor.ts), so `--help` within 2x of it cannot load the bundle (issue 18;
// `npx tsx bench/startup.ts`, bench/results/issue-18-startup.md). Each text is what the real
// command prints: the bundle run once per command with the shortcut off, stdout taken for a
// terminal (the help's colours, HelpConsole.ts); the text for a pipe or NO_COLOR is the same
// without its colour codes (HelpConsole's `stripAnsi`, as `plainWhenPiped` does). The commands
// are those the root help lists. packages/cli/test/helpShortcut.e2e.test.ts compares every text
// with the bundle's own output, on a pipe and on a terminal.
const { stripAnsi } = await import("../dist/HelpConsole.js")
const { execFile } = await import("node:child_process")
const { availableParallelism } = await import("node:os")
const helpEnv = { ...process.env, FASTLLM_HELP_SHORTCUT: "0", FASTLLM_NO_COMPILE_CACHE: "1" }
delete helpEnv.NO_COLOR
// A terminal's output without one: @effect/cli prints the same bytes, HelpConsole keeps the colours.
const asTerminal = "data:text/javascript,process.stdout.isTTY=true"
const helpOf = (command) =>
  new Promise((resolve, reject) => {
    const args = ["--import", asTerminal, dist("fastllm.mjs"), ...command, "--help"]
    execFile(process.execPath, args, { env: helpEnv, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error !== null || stderr !== "" || !stdout.endsWith("\n")) {
        reject(new Error(`fastllm ${command.join(" ")} --help: ${error?.message ?? ""}${stderr}`))
      } else {
        // console.log wrote it: the text and a newline
        resolve(stdout.slice(0, -1))
      }
    })
  })
const rootHelp = await helpOf([])
// "  - batches list [--cache PATH] ...": a command is the words before its first option or argument.
const commandLines = stripAnsi(rootHelp).split("\n").filter((line) => line.startsWith("  - "))
const commandPaths = commandLines.map((line) => {
  const words = []
  for (const word of line.slice(4).split(" ")) {
    if (!/^[a-z][a-z-]*$/.test(word)) break
    words.push(word)
  }
  return words
})
if (commandPaths.length === 0 || commandPaths.some((words) => words.length === 0)) {
  throw new Error(`scripts/build.mjs: no commands found in the root help:\n${commandLines.join("\n")}`)
}
const helpTexts = [["", rootHelp]]
const pending = [...commandPaths]
await Promise.all(Array.from({ length: Math.max(1, Math.min(4, availableParallelism())) }, async () => {
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    helpTexts.push([next.join(" "), await helpOf(next)])
  }
}))
const packageVersion = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")).version
fs.writeFileSync(
  dist("fastllm-help.json"),
  JSON.stringify({
    bundle: hash,
    version: packageVersion,
    commands: Object.fromEntries(helpTexts.sort(([a], [b]) => a < b ? -1 : 1).map(([name, ansi]) => [name, { ansi, plain: stripAnsi(ansi) }]))
  })
)
