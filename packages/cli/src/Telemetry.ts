/**
 * Traces from the command: with `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, the RequestManager's spans (batch, item, attempt,
 * with the OpenTelemetry GenAI attributes) are exported over OTLP/HTTP (JSON) with
 * `@effect/opentelemetry`'s exporter, as every OpenTelemetry SDK reads those variables. Headers
 * come from `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,key2=value2`; values are secrets: never
 * logged); the service name from `OTEL_SERVICE_NAME` (default `fastllm`). Unset: no tracer, and
 * the run pays nothing for tracing.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/**
 * The OTLP settings from the standard environment variables; none when no endpoint is set.
 *
 * @since 0.2.0
 * @category config
 */
export const config = Config.all({
  endpoint: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")),
  tracesEndpoint: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
  headers: Config.option(Config.redacted(Config.nonEmptyString("OTEL_EXPORTER_OTLP_HEADERS"))),
  serviceName: Config.withDefault(Config.nonEmptyString("OTEL_SERVICE_NAME"), "fastllm")
})

/**
 * Reads `key=value,key2=value2` (values percent-decoded, as the OpenTelemetry spec says).
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseHeaders = (text: string): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=")
    if (at <= 0) continue
    try {
      headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim())
    } catch {
      headers[pair.slice(0, at).trim()] = pair.slice(at + 1).trim()
    }
  }
  return headers
}

/**
 * The tracer layer for the command: OTLP/HTTP export when an endpoint is configured, nothing
 * otherwise. The exporter's modules (and undici, its transport) are imported only then: a run
 * without tracing does not load them (`npx tsx bench/startup.ts`, the command's start-up).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const settings = yield* Effect.orElseSucceed(config, () => undefined)
    if (settings === undefined) return Layer.empty
    const url = Option.isSome(settings.tracesEndpoint)
      ? settings.tracesEndpoint.value
      : Option.isSome(settings.endpoint)
      ? `${settings.endpoint.value.replace(/\/+$/, "")}/v1/traces`
      : undefined
    if (url === undefined) return Layer.empty
    const [OtlpTracer, OtlpSerialization, NodeHttpClient] = yield* Effect.promise(() =>
      Promise.all([
        import("@effect/opentelemetry/OtlpTracer"),
        import("@effect/opentelemetry/OtlpSerialization"),
        import("@effect/platform-node/NodeHttpClient")
      ])
    )
    return OtlpTracer.layer({
      url,
      resource: { serviceName: settings.serviceName, serviceVersion: "0.2.0" },
      headers: Option.match(settings.headers, { onNone: () => ({}), onSome: (h) => parseHeaders(Redacted.value(h)) }),
      exportInterval: "1 second"
    }).pipe(Layer.provide(Layer.merge(NodeHttpClient.layerUndici, OtlpSerialization.layerJson)))
  })
)
