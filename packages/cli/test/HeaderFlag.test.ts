import { assert, describe, it } from "@effect/vitest"
import { HeaderFlag } from "@fastllm/cli"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"

describe("--header NAME=VALUE", () => {
  it("secret-looking values are Redacted, by name or by shape; others stay plain", () => {
    const parsed = (text: string) => Either.getOrThrow(HeaderFlag.parse(text))
    for (const text of ["Authorization=Bearer abc", "X-Api-Key=k1", "x-gateway-token: t", "X-Custom=sk-live-123", "Cookie=a=b"]) {
      assert.isTrue(Redacted.isRedacted(parsed(text)[1]), text)
    }
    assert.deepStrictEqual(parsed("X-Team=search"), ["X-Team", "search"])
    assert.deepStrictEqual(parsed("HTTP-Referer: https://example.com"), ["HTTP-Referer", "https://example.com"])
    assert.strictEqual(String(parsed("Authorization=Bearer abc")[1]), "<redacted>")
  })

  it("a malformed flag is an error that names --header and never repeats a value", () => {
    assert.deepStrictEqual(HeaderFlag.parse("no-equals"), Either.left("--header takes NAME=VALUE (e.g. --header X-Team=search)"))
    assert.isTrue(Either.isLeft(HeaderFlag.parse("bad name=x")))
    const crlf = HeaderFlag.parse("X-Secret=a\r\nInjected: 1")
    assert.isTrue(Either.isLeft(crlf) && !crlf.left.includes("Injected"))
  })
})
