import { open } from "lmdb"
import fs from "node:fs"
const d = "/tmp/lmx/run" + Date.now()
fs.mkdirSync(d)
const which = process.argv[2]
console.log("start", which)
const env0 = open({ path: d + "/good.mdb" }); const db0 = env0.openDB({ name: "entries", encoding: "binary" })
for (let i = 0; i < 1000; i++) db0.put("k" + i, Buffer.alloc(100, i))
await db0.put("z", Buffer.from("z")); await env0.close()
const full = fs.readFileSync(d + "/good.mdb")
if (which === "lock") fs.writeFileSync(d + "/good.mdb-lock", Buffer.alloc(9000, 9))
if (which === "empty") fs.writeFileSync(d + "/good.mdb", "")
if (which === "trunc") fs.writeFileSync(d + "/good.mdb", full.subarray(0, 8192))
if (which === "tail") { const b = Buffer.from(full); b.fill(0x55, 8192); fs.writeFileSync(d + "/good.mdb", b) }
console.log("size", full.length)
try {
const env = open({ path: d + "/good.mdb" })
const a = env.openDB({ name: "entries", encoding: "binary" })
console.log(a.getBinary("k5")?.length, a.getStats().entryCount)
await a.put("q", Buffer.from("q"))
console.log("ok")
} catch (e) { console.log("ERR", e.code, e.message) }
