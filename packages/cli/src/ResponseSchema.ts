/**
 * `fastllm run --response-schema FILE.json`: every chat line without a `response_format` gets
 * `{ type: "json_schema", json_schema: { name, schema, strict: true } }` (the file's JSON Schema,
 * rewritten for OpenAI's strict mode), every answer is validated against the file's schema with
 * ajv, an invalid one is re-asked with the errors (up to 2 times; each repair is cached like any
 * request), and a line whose answer never validates is written with `error.code` `invalid_output`
 * (`refusal` when the model refused). Valid answers are written as without the flag. Built on
 * `Structured` from `@fastllm/core`.
 *
 * @since 0.2.0
 */
import { Structured } from "@fastllm/core"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import type { Runner } from "./BatchFile.js"
import * as BatchLine from "./BatchLine.js"
import { ConfigurationError } from "./CliError.js"

/**
 * The `--response-schema FILE.json` option.
 *
 * @since 0.2.0
 * @category options
 */
export const option = Options.file("response-schema").pipe(
  Options.withPseudoName("FILE.json"),
  Options.withDescription(
    "JSON Schema every chat answer must match: sent as a strict response_format on lines that have none; " +
      "answers validated, invalid ones re-asked up to 2 times, then written with error.code invalid_output"
  ),
  Options.optional
)

// ajv and ajv-formats (250 kB) are imported by `load` only: a run without --response-schema and
// `fastllm --help` never evaluate them (`npx tsx bench/startup.ts`). Both are CommonJS: the
// module's `default` is the export.
const loadAjv = Effect.promise(() => Promise.all([import("ajv"), import("ajv-formats")]))

const describe = (error: unknown) => error instanceof Error ? error.message : String(error)

/**
 * Reads, compiles (ajv 8, with ajv-formats) and converts the schema file. A file that is not
 * JSON, a schema ajv rejects, or one OpenAI's strict mode cannot express is a configuration error
 * (exit 2) before any request is sent.
 *
 * @since 0.2.0
 * @category constructors
 */
export const load = (
  file: string
): Effect.Effect<Structured.Output<unknown>, ConfigurationError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fail = (reason: string) => new ConfigurationError({ reason: `--response-schema ${file}: ${reason}` })
    const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => fail(`cannot read it (${describe(e)})`)))
    const schema = yield* Effect.try({ try: (): unknown => JSON.parse(text), catch: (e) => fail(`not JSON (${describe(e)})`) })
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      return yield* fail("a JSON Schema must be an object")
    }
    const [AjvModule, AjvFormats] = yield* loadAjv
    const ajv = new AjvModule.default.default({ allErrors: true, strict: false })
    AjvFormats.default.default(ajv)
    const validate = yield* Effect.try({
      try: () => ajv.compile(schema),
      catch: (e) => fail(`not a valid JSON Schema (${describe(e)})`)
    })
    const output = Structured.outputFromJsonSchema(schema, {
      name: path.basename(file).replace(/\.json$/i, ""),
      validate: (value) =>
        validate(value) ? Either.right(value) : Either.left(
          (validate.errors ?? []).map((e) => {
            const allowed = "allowedValues" in e.params ? ` ${JSON.stringify(e.params.allowedValues)}` : ""
            return `- at ${e.instancePath === "" ? "(root)" : e.instancePath}: ${e.message ?? "is invalid"}${allowed}`
          }).join("\n")
        )
    })
    return yield* Either.mapLeft(output, (error) => fail(`${error.reason} (at ${error.path})`))
  })

const clip = (text: string, max: number) => text.length > max ? `${text.slice(0, max)}...` : text

/**
 * The output line of a structured result: a success or a provider error as without the flag; an
 * answer that never validated as `error.code` `invalid_output` (with the last answer, clipped), a
 * refusal as `refusal`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const toOutput = (parsed: BatchLine.ParsedLine, result: Structured.Result<unknown>): BatchLine.BatchOutputLine => {
  if (result._tag === "Success") return BatchLine.toOutput(parsed, result.result)
  const error = result.error
  switch (error._tag) {
    case "OutputError":
    case "RefusalError": {
      const message = error._tag === "OutputError" && error.content !== undefined
        ? `${error.message} Last answer: ${clip(error.content, 500)}`
        : error.message
      const code = error._tag === "OutputError" ? "invalid_output" : "refusal"
      return { id: `batch_req_${parsed.line}`, custom_id: parsed.customId, response: null, error: { code, message } }
    }
    default:
      return BatchLine.toOutput(
        parsed,
        result.result ?? { _tag: "Failure", index: result.index, key: undefined, kind: "chat", error, attempts: 0 }
      )
  }
}

/**
 * The `BatchFile.run` runner for a response schema: `Structured.stream` over the lines, and (when
 * `log` is given) one line at the end counting repairs, invalid outputs and refusals.
 *
 * @since 0.2.0
 * @category constructors
 */
export const runner = (output: Structured.Output<unknown>, log?: (text: string) => void): Runner => (inputs) => {
  let repairs = 0
  let repaired = 0
  let invalid = 0
  let refusals = 0
  return Structured.streamWith(inputs, { output }).pipe(
    // `output` is prepared: the stream cannot fail with UnsupportedSchemaError
    Stream.catchAll((e) => Predicate.isTagged(e, "UnsupportedSchemaError") ? Stream.die(e) : Stream.fail(e)),
    Stream.map(({ meta, result }) => {
      repairs += result.repairs
      if (result._tag === "Success" && result.repairs > 0) repaired++
      if (result._tag === "Failure" && result.error._tag === "OutputError") invalid++
      if (result._tag === "Failure" && result.error._tag === "RefusalError") refusals++
      return { meta, line: toOutput(meta, result) }
    }),
    Stream.onEnd(Effect.sync(() =>
      log?.(
        `fastllm: --response-schema: ${repairs} repair request${repairs === 1 ? "" : "s"}, ${repaired} answer${
          repaired === 1 ? "" : "s"
        } valid after a repair, ${invalid} invalid_output, ${refusals} refusal${refusals === 1 ? "" : "s"}\n`
      )
    ))
  )
}
