import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import type { Options, RedisConnection } from "../RedisConnection.js"
import { RedisError } from "./redisError.js"

const defaultConnectTimeout = Duration.seconds(5)

/** @internal */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString().replace(/\/$/, "")
  } catch {
    // Not a URL: hide whatever sits between the scheme and an `@`.
    return url.replace(/\/\/[^@/]*@/, "//***@")
  }
}

const passwordOf = (url: string): string | undefined => {
  try {
    const password = decodeURIComponent(new URL(url).password)
    return password === "" ? undefined : password
  } catch {
    return undefined
  }
}

const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)

/**
 * How the client behaves when the server goes away mid-run: it reconnects every 100 ms to 1 s, and
 * a command waits through up to 20 reconnection attempts (~15 s) before it fails; so a restart
 * of a few seconds is ridden through, and a longer outage fails with a clear error.
 */
const retryStrategy = (times: number): number => Math.min(times * 100, 1_000)
const maxRetriesPerRequest = 20

/** @internal */
export const make = (options: Options): Effect.Effect<RedisConnection.Service, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const url = typeof options.url === "string" ? options.url : Redacted.value(options.url)
    const shown = displayUrl(url)
    const password = passwordOf(url)
    const scrub = (text: string) => password === undefined ? text : text.split(password).join("***")
    const fail = (operation: string, cause: unknown) =>
      new RedisError({ url: shown, operation, reason: scrub(describe(cause)) })
    const connectTimeout = Duration.toMillis(Duration.decode(options.connectTimeout ?? defaultConnectTimeout))

    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new Redis(url, {
            lazyConnect: true,
            enableAutoPipelining: true,
            connectTimeout,
            maxRetriesPerRequest,
            retryStrategy
          }),
        catch: (cause) => fail("connect", cause)
      }),
      (client) =>
        Effect.promise(() => client.quit().catch(() => "")).pipe(
          Effect.timeout("2 seconds"),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect()))
        )
    )
    // Without a listener ioredis prints every connection error to the console; the commands that
    // fail report it instead, as RedisErrors.
    client.on("error", () => {})

    yield* Effect.tryPromise({
      try: (signal) => {
        signal.addEventListener("abort", () => client.disconnect())
        return client.connect()
      },
      catch: (cause) => fail("connect", cause)
    }).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(connectTimeout),
        onTimeout: () => fail("connect", `no answer within ${connectTimeout} ms`)
      })
    )

    return {
      client,
      prefix: options.prefix ?? "fastllm:",
      displayUrl: shown,
      use: <A>(operation: string, f: (client: Redis) => Promise<A>) =>
        Effect.tryPromise({ try: () => f(client), catch: (cause) => fail(operation, cause) })
    } satisfies RedisConnection.Service
  })
