/**
 * `GET /v1/models` and `GET /v1/models/{id}`.
 *
 * @internal
 */
import { pathSegment, type RouteGroup } from "../route.js"

/** Models listed by `GET /v1/models` when `options.models` is not set (any model is then accepted). @internal */
export const defaultModels: ReadonlyArray<string> = [
  "gpt-4o-mini",
  "gpt-4o",
  "gpt-4.1-mini",
  "gpt-4.1-nano",
  "text-embedding-3-small",
  "text-embedding-3-large"
]

const modelObject = (id: string) => ({ id, object: "model", created: 1_700_000_000, owned_by: "fastllm-testing" })

/** @internal */
export const modelRoutes: RouteGroup = (context) => [
  {
    method: "GET",
    path: "/v1/models",
    handle: () =>
      context.json(200, { object: "list", data: (context.options().models ?? defaultModels).map(modelObject) })
  },
  {
    method: "GET",
    path: /^\/v1\/models\/(.+)$/,
    handle: (request) => {
      const id = pathSegment(request.params[0] ?? "")
      return context.checkModel(id) ?? context.json(200, modelObject(id))
    }
  }
]
