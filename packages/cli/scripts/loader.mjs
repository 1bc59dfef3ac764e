// dist/fastllm.mjs (copied there by scripts/build.mjs, which fills in BUNDLE_HASH): runs the
// bundled command dist/fastllm.cjs with V8's code cache. Node 20 has no module compile cache
// (`module.enableCompileCache` is Node 22.1+), but a `vm.Script` takes `cachedData`: the first run
// compiles the bundle and saves the bytecode V8 made; later runs skip parsing and compiling the
// 4 MB bundle. `npx tsx bench/startup.ts` measures `fastllm --help` and a one-line cached run with
// and without it (bench/results/issue-18.md, "CLI start-up, second session").
//
// The cache lives in a directory of the user's own under the temporary directory (created 0700,
// used only when its owner is this user and nobody else can write it), one file per bundle hash,
// subcommand, Node version and architecture: V8 itself only checks a cache's source length and
// flags, so the hash keeps a cache from ever meeting another bundle. FASTLLM_NO_COMPILE_CACHE=1 turns it off.
//
// An exact help request (`fastllm --help`, `fastllm -h`, `fastllm run --help`, `fastllm batches
// list -h`: the flag last, after nothing but a command's words) is answered from
// dist/fastllm-help.json without loading the bundle: the texts the bundle itself printed when
// scripts/build.mjs ran it, for a terminal and for a pipe (or NO_COLOR), printed the way
// @effect/cli prints them (one console.log, exit code 0). @effect/cli's command tree alone costs
// ~2.3x a bare `node -e ''` to build (`npx tsx bench/startup.ts`, bench/results/issue-18-startup.md).
// Anything else, a help file of another bundle or package version, or FASTLLM_HELP_SHORTCUT=0,
// goes the normal way.
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as vm from "node:vm"

const bundleHash = "BUNDLE_HASH"
const file = fileURLToPath(new URL("./fastllm.cjs", import.meta.url))

/** The precomputed help for this process's arguments, or undefined when it is not exactly a help request. */
const precomputedHelp = () => {
  const args = process.argv.slice(2)
  const flag = args.at(-1)
  if ((flag !== "--help" && flag !== "-h") || process.env.FASTLLM_HELP_SHORTCUT === "0") return undefined
  const words = args.slice(0, -1)
  if (!words.every((word) => /^[a-z][a-z-]*$/.test(word))) return undefined
  try {
    const help = JSON.parse(fs.readFileSync(new URL("./fastllm-help.json", import.meta.url), "utf8"))
    // the version @effect/cli prints is read from package.json when the bundle runs
    const { version } = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"))
    if (help.bundle !== bundleHash || help.version !== version) return undefined
    const key = words.join(" ")
    const texts = Object.hasOwn(help.commands, key) ? help.commands[key] : undefined
    if (texts === undefined) return undefined
    // HelpConsole.ts: colours only on a terminal and without NO_COLOR
    return process.stdout.isTTY === true && process.env.NO_COLOR === undefined ? texts.ansi : texts.plain
  } catch {
    return undefined
  }
}

/** This user's cache directory, or undefined when it cannot be trusted or made. */
const cacheDirectory = () => {
  if (process.env.FASTLLM_NO_COMPILE_CACHE === "1" || typeof process.getuid !== "function") return undefined
  const dir = path.join(os.tmpdir(), `fastllm-compile-cache-${process.getuid()}`)
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (error) {
    if (error?.code !== "EEXIST") return undefined
  }
  try {
    const stat = fs.lstatSync(dir)
    return stat.isDirectory() && stat.uid === process.getuid() && (stat.mode & 0o022) === 0 ? dir : undefined
  } catch {
    return undefined
  }
}

/** Runs the bundle with the code cache. */
const runBundle = () => {
  // One cache per subcommand: each holds the functions its command compiled (the first run of
  // `fastllm run` after a `fastllm --help` would otherwise find only the help's).
  const commands = new Set(["run", "estimate", "mock-server", "view", "batches", "worker", "jobs"])
  const command = process.argv[2]
  const cacheName = command !== undefined && commands.has(command) ? command : "main"
  const dir = cacheDirectory()
  const cacheFile = dir && path.join(dir, `${bundleHash}-${cacheName}-${process.version}-${process.arch}.bin`)
  let cachedData
  if (cacheFile) {
    try {
      cachedData = fs.readFileSync(cacheFile)
    } catch {
      // no cache yet
    }
  }
  // ASCII (scripts/build.mjs checks): latin1 reads it without decoding UTF-8.
  const source = fs.readFileSync(file, "latin1")
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname, __fastllmBundleUrl) {${source}\n})`,
    { filename: file, cachedData }
  )
  if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
    // Written at exit, so the functions this run compiled are in it too.
    process.once("exit", () => {
      try {
        const temporary = `${cacheFile}.${process.pid}`
        fs.writeFileSync(temporary, script.createCachedData(), { mode: 0o600 })
        fs.renameSync(temporary, cacheFile)
        // Another version's caches are removed once a month old (a rebuild or an upgrade leaves them).
        const monthAgo = Date.now() - 30 * 24 * 3600 * 1000
        for (const name of fs.readdirSync(dir)) {
          const other = path.join(dir, name)
          if (!name.startsWith(bundleHash) && fs.lstatSync(other).mtimeMs < monthAgo) fs.rmSync(other, { force: true })
        }
      } catch {
        // a cache is an optimisation: never fail the command for it
      }
    })
  }
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file), pathToFileURL(file).href)
}

const help = precomputedHelp()
if (help === undefined) runBundle()
else console.log(help)
