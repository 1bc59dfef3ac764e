/**
 * What a user does, on packs of this checkout: `npm pack` every package, install the packs into
 * fresh projects in a temporary directory (with effect ^3.22 as the README says, and with the lowest
 * versions the packages claim), then run them with plain `node`: no tsx, no checkout, no
 * "@fastllm/source" condition. The projects install in parallel from the one npm cache.
 *
 * - `app`: the README's Install commands; tsc compiles the README's library example (and checks that
 *   the declarations resolve), node runs it twice against the test server (the second run is
 *   answered by the disk cache); vitest runs examples/swap-layers.test.ts and a real HTTP test.
 * - `lowest`: the library packages with effect 3.22.0, @effect/platform 0.97.0,
 *   @effect/experimental 0.61.0, undici 7.10.0, vitest 3.2.0, @effect/vitest 0.30.0: the same runs.
 * - `lowest-cli`: every pack with the lowest peers @fastllm/cli claims (effect 3.22.1, @effect/cli
 *   0.77.0, ...): every package imports, and the CLI runs as a library.
 * - a global prefix: `npm install -g` of the @fastllm/cli pack alone; `fastllm run` on a small file.
 * - publint (strict) and attw (profile esm-only) on every pack.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"

const repo = fileURLToPath(new URL("..", import.meta.url))
const fixtures = path.join(repo, "packaging", "fixtures")
const tsc = path.join(repo, "node_modules", "typescript", "bin", "tsc")

/** The environment of a user's shell: ours without npm's script variables, NODE_OPTIONS (the
 * source condition), vitest's variables, OpenAI settings, and node_modules/.bin on the PATH. */
const userEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|NODE_OPTIONS$|NODE_ENV$|VITEST|TEST$|MODE$|INIT_CWD$|FORCE_COLOR$|OPENAI_|FASTLLM_)/.test(key)) env[key] = value
  }
  const dirs = (env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== "" && !dir.includes("node_modules"))
  env.PATH = [path.dirname(process.execPath), ...dirs].join(path.delimiter)
  return { ...env, NO_COLOR: "1", ...extra }
}

/** Decodes the JSON `text` with `schema` (throws a ParseError naming what is wrong). */
const decodeJson = <A, I>(schema: Schema.Schema<A, I>, text: string): A => Schema.decodeUnknownSync(Schema.parseJson(schema))(text)

const Packed = Schema.Array(Schema.Struct({ name: Schema.String, version: Schema.String, filename: Schema.String }))
const PackageJson = Schema.Struct({ version: Schema.String })
const TsConfig = Schema.Struct({ compilerOptions: Schema.Record({ key: Schema.String, value: Schema.Unknown }) })
const LintResults = Schema.Array(
  Schema.Struct({ tarball: Schema.String, publint: Schema.Array(Schema.String), attw: Schema.Array(Schema.Unknown) })
)
const OutputLine = Schema.Struct({
  custom_id: Schema.String,
  response: Schema.NullOr(Schema.Struct({ status_code: Schema.Number }))
})

/** The version of the package installed at `dir/node_modules/name`. */
const installedVersion = (dir: string, name: string): string =>
  decodeJson(PackageJson, fs.readFileSync(path.join(dir, "node_modules", name, "package.json"), "utf8")).version

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string> }
): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: userEnv(options.env), stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => stdout += text)
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** Runs a command that must succeed; its output otherwise is the error. */
const ok = async (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string> }
): Promise<Finished> => {
  const finished = await run(command, args, options)
  if (finished.code !== 0) {
    throw new Error(
      `\`${command} ${args.join(" ")}\` in ${options.cwd} exited with ${finished.code}\n${finished.stderr}\n${finished.stdout}`
    )
  }
  return finished
}

/** Per test and hook: a command-line --testTimeout would otherwise override the project's. */
const timeout = 300_000

const npmInstall = ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"]

/** A fresh project: an empty ES module package, as `npm init` leaves it plus "type": "module". */
const project = (dir: string): string => {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "package.json"), `${JSON.stringify({ name: path.basename(dir), private: true, type: "module" })}\n`)
  return dir
}

const copy = (from: string, dir: string, name = path.basename(from)): void => fs.copyFileSync(from, path.join(dir, name))

/** The README's library example: the ```ts block under "## Library usage". */
const readmeExample = (): string => {
  const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8")
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("## Library usage")))
  assert(match !== null, "README has a ```ts block under ## Library usage")
  return match[1]!
}

/** The README's Install commands for library users (the ```sh block under "### Library"). */
const readmeInstallCommands = (): ReadonlyArray<ReadonlyArray<string>> => {
  const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8")
  const match = /```sh\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("### Library")))
  assert(match !== null, "README has a ```sh block under ### Library")
  return match[1]!.split("\n").map((line) => line.replace(/#.*/, "").trim()).filter((line) => line !== "").map((line) =>
    line.split(/\s+/)
  )
}

interface Pack {
  readonly name: string
  readonly version: string
  readonly tarball: string
}

let temp = ""
let packs: ReadonlyArray<Pack> = []
const tarball = (name: string): string => {
  const pack = packs.find((pack) => pack.name === name)
  assert(pack !== undefined, `${name} was packed`)
  return pack.tarball
}

// Started in beforeAll, awaited by the tests that need them: the installs run side by side.
let installed: {
  readonly app: Promise<string>
  readonly lowest: Promise<string>
  readonly lowestCli: Promise<string>
  readonly global: Promise<string>
  readonly lint: Promise<Finished>
}
let compiled: Promise<string>
let serverUrl = ""
const serverScope = Effect.runSync(Scope.make())

beforeAll(async () => {
  temp = fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-packaging-"))
  const packDir = path.join(temp, "packs")
  fs.mkdirSync(packDir)
  // Each package's prepack script brings its dist/ up to date (tsc -b; the CLI bundle) first.
  const packed = await ok("npm", ["pack", "--workspaces", "--json", "--pack-destination", packDir], { cwd: repo })
  packs = decodeJson(Packed, packed.stdout).map((pack) => ({
    name: pack.name,
    version: pack.version,
    tarball: path.join(packDir, pack.filename)
  }))

  const app = (async () => {
    // The README's commands, with each @fastllm package replaced by its pack.
    const dir = project(path.join(temp, "app"))
    for (const command of readmeInstallCommands()) {
      assert.strictEqual(command.slice(0, 2).join(" "), "npm install", `README Install command: ${command.join(" ")}`)
      const args = command.slice(2).map((arg) => arg.startsWith("@fastllm/") ? tarball(arg) : arg)
      await ok("npm", [...npmInstall, ...args], { cwd: dir })
    }
    return dir
  })()
  const lowest = (async () => {
    const dir = project(path.join(temp, "lowest"))
    await ok("npm", [
      ...npmInstall,
      ...["@fastllm/core", "@fastllm/provider-openai", "@fastllm/cache-disk", "@fastllm/testing"].map(tarball),
      "effect@3.22.0",
      "@effect/platform@0.97.0",
      "@effect/experimental@0.61.0",
      "undici@7.10.0",
      "lmdb@3.5.6",
      "vitest@3.2.0",
      "@effect/vitest@0.30.0"
    ], { cwd: dir })
    return dir
  })()
  const lowestCli = (async () => {
    const dir = project(path.join(temp, "lowest-cli"))
    await ok("npm", [
      ...npmInstall,
      ...packs.map((pack) => pack.tarball),
      "effect@3.22.1",
      "@effect/platform@0.97.1",
      "@effect/platform-node@0.108.0",
      "@effect/cli@0.77.0",
      "@effect/opentelemetry@0.64.0",
      "@effect/printer@0.51.0",
      "@effect/printer-ansi@0.51.0"
    ], { cwd: dir })
    return dir
  })()
  const global = (async () => {
    const prefix = path.join(temp, "global")
    await ok("npm", [...npmInstall, "--global", "--prefix", prefix, tarball("@fastllm/cli")], { cwd: temp })
    return prefix
  })()
  const lint = ok(process.execPath, [path.join(fixtures, "lint.mjs"), ...packs.map((pack) => pack.tarball)], { cwd: repo })
  installed = { app, lowest, lowestCli, global, lint }
  // Rejections are reported by the tests that await them.
  for (const promise of Object.values(installed)) promise.catch(() => undefined)

  compiled = app.then(async (dir) => {
    fs.writeFileSync(path.join(dir, "readme.ts"), readmeExample())
    copy(path.join(fixtures, "app", "types.ts"), dir)
    // The user's TypeScript (this repository's, same version) with @types/node from here.
    const config = decodeJson(TsConfig, fs.readFileSync(path.join(fixtures, "app", "tsconfig.json"), "utf8"))
    const typeRoots = [path.join(repo, "node_modules", "@types")]
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ ...config, compilerOptions: { ...config.compilerOptions, typeRoots } }))
    await ok(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: dir })
    return path.join(dir, "readme.js")
  })
  compiled.catch(() => undefined)

  const server = await Effect.runPromise(Scope.extend(TestServer.make(), serverScope))
  serverUrl = server.url
}, timeout)

afterAll(async () => {
  await Effect.runPromise(Scope.close(serverScope, Exit.void))
  // Asynchronous: removing four node_modules trees synchronously blocked the worker for so long
  // on a loaded machine that vitest's own RPC timed out ("Timeout calling onTaskUpdate").
  if (temp !== "") await fs.promises.rm(temp, { recursive: true, force: true, maxRetries: 5 })
}, timeout)

/** Runs the compiled README example in `dir` against the test server, twice. */
const readmeRuns = async (dir: string, readmeJs: string): Promise<void> => {
  copy(readmeJs, dir, "readme.js")
  const env = { OPENAI_API_KEY: "sk-packaging-test", OPENAI_BASE_URL: serverUrl }
  const first = await ok(process.execPath, ["readme.js"], { cwd: dir, env })
  assert.include(first.stdout, "3 ok, 0 cached")
  assert.include(first.stdout, "Paris")
  const second = await ok(process.execPath, ["readme.js"], { cwd: dir, env })
  assert.include(second.stdout, "3 ok, 3 cached, 0 tokens")
}

/** Runs the swapped-layers example test and the real HTTP test with the project's own vitest. */
const vitestRuns = async (dir: string): Promise<void> => {
  copy(path.join(repo, "examples", "swap-layers.test.ts"), dir)
  copy(path.join(fixtures, "app", "http.test.ts"), dir)
  const finished = await ok(process.execPath, [path.join("node_modules", "vitest", "vitest.mjs"), "run"], { cwd: dir })
  assert.match(finished.stdout, /Tests\s+2 passed/)
}

// Concurrent: each test waits for its own project's install, so the projects' runs overlap.
describe.concurrent("the packs, installed as a user installs them", () => {
  it("pass publint (strict) and attw (esm-only): no message, no problem", async () => {
    const results = decodeJson(LintResults, (await installed.lint).stdout)
    assert.deepStrictEqual(results.map((result) => path.basename(result.tarball)).sort(), packs.map((pack) => path.basename(pack.tarball)).sort())
    for (const result of results) {
      assert.deepStrictEqual(result.publint, [], `publint ${path.basename(result.tarball)}`)
      assert.deepStrictEqual(result.attw, [], `attw ${path.basename(result.tarball)}`)
    }
  }, timeout)

  it("each pack holds its compiled code, declarations, maps and sources; no build info, no tests", async () => {
    for (const pack of packs) {
      const listed = await ok("tar", ["-tzf", pack.tarball], { cwd: temp })
      const files = listed.stdout.split("\n")
      assert.include(files, "package/dist/index.js", pack.name)
      assert.include(files, "package/dist/index.d.ts", pack.name)
      assert.include(files, "package/dist/index.js.map", pack.name)
      assert.include(files, "package/src/index.ts", pack.name)
      assert.isFalse(files.some((file) => file.endsWith(".tsbuildinfo") || file.startsWith("package/test/")), pack.name)
    }
  }, timeout)

  it("README install (effect ^3.22): tsc compiles the library example, plain node runs it, then from the disk cache", async () => {
    const dir = await installed.app
    assert.match(installedVersion(dir, "effect"), /^3\.(2[2-9]|[3-9]\d)\./)
    // one copy of effect: the packages use the app's (peer dependencies)
    const copies = await ok("find", [".", "-path", "*/node_modules/effect/package.json"], { cwd: dir })
    assert.deepStrictEqual(copies.stdout.trim().split("\n"), ["./node_modules/effect/package.json"])
    await readmeRuns(dir, await compiled)
  }, timeout)

  it("README install: the project's vitest runs the swapped-layers test and a real HTTP test", async () => {
    await vitestRuns(await installed.app)
  }, timeout)

  it("lowest claimed versions (effect 3.22.0, @effect/platform 0.97.0, ...): the same example and tests", async () => {
    const dir = await installed.lowest
    assert.strictEqual(installedVersion(dir, "effect"), "3.22.0")
    assert.strictEqual(installedVersion(dir, "@effect/platform"), "0.97.0")
    await readmeRuns(dir, await compiled)
    await vitestRuns(dir)
  }, timeout)

  it("every pack with @fastllm/cli's lowest peers: each package imports, the CLI runs as a library", async () => {
    const dir = await installed.lowestCli
    assert.strictEqual(installedVersion(dir, "effect"), "3.22.1")
    assert.strictEqual(installedVersion(dir, "@effect/cli"), "0.77.0")
    const names = JSON.stringify(packs.map((pack) => pack.name))
    const imported = await ok(process.execPath, [
      "--input-type=module",
      "-e",
      `for (const name of ${names}) console.log(name, Object.keys(await import(name)).length)`
    ], { cwd: dir })
    for (const pack of packs) assert.match(imported.stdout, new RegExp(`^${pack.name} [1-9]`, "m"), pack.name)
    copy(path.join(fixtures, "app", "cli-library.mjs"), dir)
    const version = await ok(process.execPath, ["cli-library.mjs"], { cwd: dir })
    assert.strictEqual(version.stdout.trim(), packs.find((pack) => pack.name === "@fastllm/cli")?.version)
  }, timeout)

  it("npm install -g of the @fastllm/cli pack: `fastllm run` with plain node, on the built-in server", async () => {
    const prefix = await installed.global
    const fastllm = path.join(prefix, "bin", "fastllm")
    const installedCli = path.join(prefix, "lib", "node_modules", "@fastllm", "cli")
    assert.isFalse(fs.existsSync(path.join(installedCli, "scripts")), "the checkout runner is not published")
    assert.isFalse(fs.existsSync(path.join(installedCli, "node_modules", "tsx")), "no tsx")
    const cwd = path.join(temp, "cli-run")
    fs.mkdirSync(cwd)
    copy(path.join(fixtures, "app", "requests.jsonl"), cwd)
    const version = await ok(fastllm, ["--version"], { cwd })
    assert.strictEqual(version.stdout.trim(), packs.find((pack) => pack.name === "@fastllm/cli")?.version)
    const finished = await ok(fastllm, ["run", "requests.jsonl", "-o", "results.jsonl", "--progress", "none"], { cwd })
    assert.include(finished.stderr, "built-in local test server")
    const lines = fs.readFileSync(path.join(cwd, "results.jsonl"), "utf8").trim().split("\n").map((line) => decodeJson(OutputLine, line))
    assert.deepStrictEqual(lines.map((line) => [line.custom_id, line.response?.status_code]), [["a", 200], ["2", 200], [
      "e",
      200
    ]])
    assert.isTrue(fs.existsSync(path.join(cwd, ".fastllm-cache")), "answers cached on disk (lmdb from the install)")
  }, timeout)

  it("npm install -g of the @fastllm/cli pack: `fastllm view` serves its page (the viewer's files ship in the pack)", async () => {
    const prefix = await installed.global
    assert.isFalse(
      fs.existsSync(path.join(prefix, "lib", "node_modules", "@fastllm", "viewer")),
      "@fastllm/viewer is not installed: the page must come from the CLI's own files"
    )
    const cwd = path.join(temp, "cli-view")
    fs.mkdirSync(cwd, { recursive: true })
    const result = `{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"r","body":{"id":"c",` +
      `"object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",` +
      `"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}},"error":null}\n`
    fs.writeFileSync(path.join(cwd, "results.jsonl"), result)
    const child = spawn(path.join(prefix, "bin", "fastllm"), ["view", "results.jsonl"], {
      cwd,
      env: userEnv(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let stdout = ""
        child.stdout.setEncoding("utf8").on("data", (text: string) => {
          stdout += text
          if (stdout.includes("\n")) resolve(stdout.split("\n")[0]!.trim())
        })
        child.on("exit", (code) => reject(new Error(`fastllm view exited with ${code}\n${stderr}`)))
      })
      for (const [file, type] of [["", "text/html"], ["app.js", "text/javascript"], ["app.css", "text/css"], ["uplot.js", "text/javascript"], ["uplot.css", "text/css"]] as const) {
        const response = await fetch(new URL(file, url))
        const body = await response.text()
        assert.strictEqual(response.status, 200, `${file || "/"}: ${body}`)
        assert.include(response.headers.get("content-type"), type)
        assert.isAbove(body.length, 100)
      }
    } finally {
      child.kill("SIGTERM")
    }
  }, timeout)
})
