/**
 * The `fastllm` executable (run through tsx by bin/fastllm.js).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Main from "./internal/main.js"
import * as PackageVersion from "./internal/packageVersion.js"
import * as RunCommand from "./RunCommand.js"

// `fastllm run ...` (without a built-in option: Main.isPlainRun) parses with a tree of the root
// and `run` alone, and the other commands' modules (Cli.ts and what only it imports: estimate,
// mock-server, batches, worker, jobs) are not evaluated: in the bundle an `import()` is evaluated
// when it runs. Every other command line gets Cli.main, the whole tree. @effect/cli parses `run`
// alone either way (its subcommands are tried in order, `run` first) and prints nothing of the
// others for it (packages/cli/test: the cli e2e tests' errors and helpShortcut.e2e.test.ts).
// Measured on a one-line cached run: `node bench/startupPhases.mjs before=<bundle>
// after=packages/cli/dist/fastllm.mjs` (bench/results/issue-18-startup.md, fourth session).
const main = (argv: ReadonlyArray<string>) =>
  Main.isPlainRun(argv.slice(2))
    ? Main.run(
      Command.make("fastllm").pipe(
        Command.withDescription(Main.rootDescription),
        Command.withSubcommands([RunCommand.command])
      ),
      PackageVersion.read(new URL("../package.json", import.meta.url)),
      argv
    )
    : Effect.flatMap(Effect.promise(() => import("./Cli.js")), (Cli) => Cli.main(argv))

// The services the command needs (CliApp.Environment: file system, path, terminal), not all of
// NodeContext: its command executor and worker manager (and their modules) are built for nothing.
// One-line cached run: `node bench/startupPhases.mjs before=<bundle> after=packages/cli/dist/fastllm.mjs`
// (bench/results/issue-18-startup.md, fourth session).
const environment = Layer.mergeAll(NodePath.layer, NodeTerminal.layer).pipe(Layer.provideMerge(NodeFileSystem.layer))

// Exit codes: what `Cli.main` returns (0, 1 or 2); 130 when stopped by SIGINT/SIGTERM (the run is
// interrupted: in-flight answers already cached stay cached); 70 for a defect (a bug).
NodeRuntime.runMain(main(process.argv).pipe(Effect.provide(environment)), {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) return onExit(typeof exit.value === "number" ? exit.value : 0)
    if (Cause.isInterruptedOnly(exit.cause)) return onExit(130)
    process.stderr.write(`fastllm: unexpected error (a bug, please report it):\n${Cause.pretty(exit.cause)}\n`)
    onExit(70)
  }
})
