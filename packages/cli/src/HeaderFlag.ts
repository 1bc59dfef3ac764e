/**
 * `--header NAME=VALUE` (repeatable): extra headers for gateways that want their own. A value that
 * looks like a secret (by its header's name: authorization, api-key, token, secret, cookie, ...;
 * or by its shape: `Bearer ...`, `Basic ...`, `sk-...`) is kept `Redacted`, like the API key: sent,
 * never logged, never in an error or a cache key.
 *
 * @since 0.2.0
 */
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"

const secretName = /auth|key|token|secret|passw|cookie|session|signature|credential/i
const secretValue = /^(bearer|basic|token)\s|^(sk|rk|pk)-|^eyJ[\w-]+\.[\w-]+/i
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Whether a header's value is treated as a secret.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isSecret = (name: string, value: string): boolean => secretName.test(name) || secretValue.test(value)

/**
 * Parses `NAME=VALUE` (or `NAME: VALUE`) into a header, the value `Redacted` when it looks secret.
 * The error names the flag and never repeats the value.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (
  text: string
): Either.Either<readonly [name: string, value: string | Redacted.Redacted], string> => {
  const match = /^\s*([^=:\s]+)\s*[=:]\s?(.*)$/s.exec(text)
  if (match === null) return Either.left("--header takes NAME=VALUE (e.g. --header X-Team=search)")
  const name = match[1]!
  const value = match[2]!
  if (!headerName.test(name)) return Either.left(`--header: ${JSON.stringify(name)} is not a valid header name`)
  if (/[\r\n]/.test(value)) return Either.left(`--header ${name}: the value may not contain a line break`)
  return Either.right([name, isSecret(name, value) ? Redacted.make(value) : value])
}
