import * as fs from "node:fs"
import * as Schema from "effect/Schema"

const PackageJson = Schema.parseJson(Schema.Struct({ version: Schema.String }))

/**
 * The `version` of the package.json at `url`. The caller passes `new URL("../package.json",
 * import.meta.url)`: its module sits one level below the package root in src/, in dist/ and in
 * the bundle dist/fastllm.mjs alike, so `fastllm --version` always says the installed version.
 */
export const read = (url: URL): string => Schema.decodeUnknownSync(PackageJson)(fs.readFileSync(url, "utf8")).version
