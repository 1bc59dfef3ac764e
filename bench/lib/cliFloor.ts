/**
 * The floor of `fastllm --help`: a command line with two subcommands on @effect/cli, effect and
 * @effect/platform-node and nothing else. bench/startup.ts bundles it like the CLI (esbuild,
 * CommonJS, run through packages/cli/scripts/loader.mjs with V8's code cache) and runs `--help`.
 *
 * @since 0.2.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Args from "@effect/cli/Args"
import * as Effect from "effect/Effect"
const run = Command.make("run", { input: Args.file({ name: "INPUT" }), out: Options.file("output").pipe(Options.withAlias("o"), Options.optional), conc: Options.integer("concurrency").pipe(Options.withDefault(64)) }, () => Effect.void)
const est = Command.make("estimate", { input: Args.file({ name: "INPUT" }) }, () => Effect.void)
const command = Command.make("fastllm").pipe(Command.withSubcommands([run, est]))
const cli = Command.run(command, { name: "fastllm", version: "0.2.0" })
NodeRuntime.runMain(cli(process.argv).pipe(Effect.provide(NodeContext.layer)))
