// Bundles the compiled command (dist/bin.js, made by `tsc -b tsconfig.build.json`) with everything
// it imports into one ES module, dist/fastllm.mjs, with esbuild. bin/fastllm.js runs it. Measured
// on this machine (`/usr/bin/time -f "%U+%S" node packages/cli/dist/fastllm.mjs --help`, against
// `node packages/cli/dist/bin.js --help`): 0.83 s of CPU to start instead of 1.95 s, resident
// memory 94 MB instead of 126 MB; the compiled modules of effect alone are some hundreds of files.
// `lmdb` stays outside the bundle (a dependency of @fastllm/cli): it loads a native addon.
import { build } from "esbuild"
import { fileURLToPath } from "node:url"

await build({
  entryPoints: [fileURLToPath(new URL("../dist/bin.js", import.meta.url))],
  outfile: fileURLToPath(new URL("../dist/fastllm.mjs", import.meta.url)),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // gpt-tokenizer (5.8 MB of the bundle) is only for `fastllm estimate`: loaded from node_modules when asked for.
  external: ["lmdb", "gpt-tokenizer"],
  banner: { js: "import { createRequire as __fastllmCreateRequire } from 'node:module'; const require = __fastllmCreateRequire(import.meta.url);" },
  logLevel: "warning"
})
