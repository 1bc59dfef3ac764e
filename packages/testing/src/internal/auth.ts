/**
 * Authentication: with `apiKey` set, OpenAI's `Authorization: Bearer KEY`, or in Azure mode
 * Azure's `api-key: KEY` header; a missing or wrong key is a 401 {@link Rejection}.
 *
 * @internal
 */
import type { Options } from "../ServerOptions.js"
import { type Rejection, reject } from "./reply.js"

/** Request headers as node:http gives them. @internal */
export type Headers = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/** The first value of a header. @internal */
export const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" ? value : value?.[0]
}

const mask = (given: string): string => given.length > 8 ? `${given.slice(0, 3)}*****${given.slice(-4)}` : "*****"

const bearer = (apiKey: string, authorization: string | undefined): Rejection | undefined => {
  if (authorization === undefined || authorization === "") {
    return reject(401, {
      message:
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      type: "invalid_request_error",
      param: null,
      code: null
    })
  }
  if (authorization === `Bearer ${apiKey}`) return undefined
  return reject(401, {
    message: `Incorrect API key provided: ${mask(authorization.startsWith("Bearer ") ? authorization.slice(7) : authorization)}.`,
    type: "invalid_request_error",
    param: null,
    code: "invalid_api_key"
  })
}

/** Azure's 401: the same body for a missing and a wrong key. */
const azureKey = (apiKey: string, given: string | undefined): Rejection | undefined =>
  given === apiKey ? undefined : reject(401, {
    message:
      "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
    type: "invalid_request_error",
    param: null,
    code: "401"
  })

/** `undefined` when the request may pass. @internal */
export const authenticate = (options: Options, headers: Headers): Rejection | undefined => {
  const apiKey = options.apiKey
  if (apiKey === undefined || apiKey === "") return undefined
  return options.azure === true
    ? azureKey(apiKey, header(headers, "api-key"))
    : bearer(apiKey, header(headers, "authorization"))
}
