/**
 * The `fastllm` executable (run through tsx by bin/fastllm.js).
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Cli from "./Cli.js"

// Exit codes: what `Cli.main` returns (0, 1 or 2); 130 when stopped by SIGINT/SIGTERM (the run is
// interrupted: in-flight answers already cached stay cached); 70 for a defect (a bug).
NodeRuntime.runMain(Cli.main(process.argv).pipe(Effect.provide(NodeContext.layer)), {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) return onExit(typeof exit.value === "number" ? exit.value : 0)
    if (Cause.isInterruptedOnly(exit.cause)) return onExit(130)
    process.stderr.write(`fastllm: unexpected error (a bug, please report it):\n${Cause.pretty(exit.cause)}\n`)
    onExit(70)
  }
})
