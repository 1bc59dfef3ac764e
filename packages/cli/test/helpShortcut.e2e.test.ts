import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { childEnv, readLines, tempDir, writeLines } from "./fixtures/childProcess.js"

// The bundle as a global install runs it (bin/fastllm.js imports it); `npm run build` makes it,
// with dist/fastllm-help.json, the help texts its loader prints for an exact help request.
const loader = fileURLToPath(new URL("../dist/fastllm.mjs", import.meta.url))
const helpFile = fileURLToPath(new URL("../dist/fastllm-help.json", import.meta.url))

const HelpFile = Schema.parseJson(Schema.Struct({
  bundle: Schema.String,
  version: Schema.String,
  commands: Schema.Record({ key: Schema.String, value: Schema.Struct({ ansi: Schema.String, plain: Schema.String }) })
}))
const help = () => Schema.decodeUnknownSync(HelpFile)(fs.readFileSync(helpFile, "utf8"))

interface Output {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** A child `node [nodeArgs] ENTRY args...` to its end. */
const node = (
  entry: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly nodeArgs?: ReadonlyArray<string>; readonly cwd?: string } = {}
) =>
  Effect.async<Output>((resume) => {
    const child = execFile(
      process.execPath,
      [...(options.nodeArgs ?? []), entry, ...args],
      { env: childEnv(options.env), cwd: options.cwd, maxBuffer: 1 << 24 },
      (_error, stdout, stderr) => resume(Effect.succeed({ code: child.exitCode, stdout, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** The same arguments with the precomputed help and without it (FASTLLM_HELP_SHORTCUT=0). */
const bothWays = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly nodeArgs?: ReadonlyArray<string> } = {}
) =>
  Effect.all([
    node(loader, args, options),
    node(loader, args, { ...options, env: { ...options.env, FASTLLM_HELP_SHORTCUT: "0" } })
  ], { concurrency: 2 })

// HelpConsole keeps the help's colours when stdout is a terminal: the loader reads the same flag.
const asTerminal = ["--import", "data:text/javascript,process.stdout.isTTY=true"]

describe("fastllm --help from the precomputed texts (dist/fastllm-help.json)", () => {
  it("has the root and every command, nested ones too", () => {
    const names = Object.keys(help().commands).sort()
    assert.deepStrictEqual(names, [
      "",
      "batches",
      "batches cancel",
      "batches list",
      "batches status",
      "estimate",
      "jobs",
      "mock-server",
      "run",
      "view",
      "worker"
    ])
  })

  it.live("prints what @effect/cli prints, byte for byte, for --help and -h of every command (piped), exit code 0", () =>
    Effect.gen(function*() {
      const commands = Object.keys(help().commands).map((name) => name === "" ? [] : name.split(" "))
      yield* Effect.forEach(commands, (words) =>
        Effect.forEach(["--help", "-h"], (flag) =>
          Effect.gen(function*() {
            const [fast, real] = yield* bothWays([...words, flag])
            const label = [...words, flag].join(" ")
            assert.strictEqual(real.code, 0, `${label}: ${real.stderr}`)
            assert.strictEqual(fast.code, 0, label)
            assert.strictEqual(fast.stderr, real.stderr, label)
            assert.strictEqual(fast.stdout, real.stdout, label)
            assert.notInclude(fast.stdout, "\u001b[", label)
            assert.include(fast.stdout, "USAGE", label)
          })), { concurrency: 2 })
    }), 120_000)

  it.live("on a terminal: the same colours; NO_COLOR: plain, as the real help", () =>
    Effect.gen(function*() {
      for (const args of [["--help"], ["run", "-h"], ["batches", "list", "--help"]]) {
        const [fast, real] = yield* bothWays(args, { nodeArgs: asTerminal })
        assert.strictEqual(fast.code, 0)
        assert.strictEqual(fast.stdout, real.stdout, args.join(" "))
        assert.include(fast.stdout, "\u001b[", "colour codes on a terminal")
        const [fastPlain, realPlain] = yield* bothWays(args, { nodeArgs: asTerminal, env: { NO_COLOR: "1" } })
        assert.strictEqual(fastPlain.stdout, realPlain.stdout, args.join(" "))
        assert.notInclude(fastPlain.stdout, "\u001b[")
      }
    }), 60_000)

  it.live("anything else goes the normal way: --version, help after an argument, an unknown command, a typo", () =>
    Effect.gen(function*() {
      for (const args of [["--version"], ["run", "in.jsonl", "--help"], ["run", "--help", "extra"], ["nope", "--help"], ["run", "--hepl"]]) {
        const [fast, real] = yield* bothWays(args)
        assert.deepStrictEqual(fast, real, args.join(" "))
      }
    }), 60_000)

  it.scopedLive("answers without the bundle; a non-help command, or a help file of another bundle or version, needs it", () =>
    Effect.gen(function*() {
      // A copy of the loader and the help texts, without dist/fastllm.cjs next to them.
      const dir = yield* tempDir
      fs.mkdirSync(path.join(dir, "dist"))
      const copy = path.join(dir, "dist", "fastllm.mjs")
      fs.copyFileSync(loader, copy)
      fs.copyFileSync(helpFile, path.join(dir, "dist", "fastllm-help.json"))
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ version: help().version }))
      const [root, expected] = yield* Effect.all([node(copy, ["--help"]), node(loader, ["--help"])])
      assert.strictEqual(root.code, 0, root.stderr)
      assert.strictEqual(root.stdout, expected.stdout)
      const missingBundle = (output: Output) => {
        assert.notStrictEqual(output.code, 0)
        assert.include(output.stderr, "fastllm.cjs")
      }
      missingBundle(yield* node(copy, ["--version"]))
      missingBundle(yield* node(copy, ["run", "in.jsonl", "-o", "out.jsonl"]))
      missingBundle(yield* node(copy, ["--help"], { env: { FASTLLM_HELP_SHORTCUT: "0" } }))
      // package.json says another version (upgraded without a rebuild): the bundle prints it
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ version: "9.9.9" }))
      missingBundle(yield* node(copy, ["--help"]))
      // the help file of another build
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ version: help().version }))
      fs.writeFileSync(path.join(dir, "dist", "fastllm-help.json"), JSON.stringify({ ...help(), bundle: "another" }))
      missingBundle(yield* node(copy, ["--help"]))
    }), 60_000)

  it.scopedLive("a run still runs (the built-in test server answers without a key)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [{
        custom_id: "one",
        method: "POST",
        url: "/v1/chat/completions",
        body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 5 }
      }])
      const output = path.join(dir, "out.jsonl")
      const result = yield* node(loader, ["run", input, "-o", output, "--no-cache", "--progress", "none", "-q"], { cwd: dir })
      assert.strictEqual(result.code, 0, result.stderr)
      const lines = readLines(output)
      assert.strictEqual(lines.length, 1)
      assert.include(JSON.stringify(lines[0]), "\"custom_id\":\"one\"")
    }), 60_000)
})
