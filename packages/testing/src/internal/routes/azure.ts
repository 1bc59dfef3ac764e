/**
 * Azure OpenAI's paths, served when `options.azure` is true:
 * `POST /openai/deployments/{deployment}/chat/completions|embeddings?api-version=V` (the
 * deployment is the model when the body names none) and the v1 API `/openai/v1/...` (api-version
 * optional: `preview` or `latest`). A missing api-version on a deployment path is Azure's 404
 * "Resource not found", an unknown one its 400 "API version not supported", a deployment missing
 * from `options.models` its 404 `DeploymentNotFound`. Each request is then answered by the OpenAI
 * route of the same endpoint. (Authentication by `api-key` header: auth.ts.)
 *
 * @internal
 */
import { isRejection, notFound, type Rejection, reject } from "../reply.js"
import { pathSegment, type RouteContext, type RouteGroup, type ServerRequest } from "../route.js"
import { parseBody } from "../validate.js"

/** API versions accepted on deployment paths when `options.azureApiVersions` is not set. @internal */
export const defaultAzureApiVersions: ReadonlyArray<string> = [
  "2023-05-15",
  "2024-02-01",
  "2024-06-01",
  "2024-10-21",
  "2024-08-01-preview",
  "2024-10-01-preview",
  "2024-12-01-preview",
  "2025-01-01-preview",
  "2025-03-01-preview",
  "2025-04-01-preview"
]

const azureError = (status: number, code: string, message: string): Rejection => reject(status, { code, message })

const checkVersion = (
  request: ServerRequest,
  allowed: ReadonlyArray<string>,
  required: boolean
): Rejection | undefined => {
  const version = request.query.get("api-version")
  if (version === null) return required ? azureError(404, "404", "Resource not found") : undefined
  return allowed.includes(version) ? undefined : azureError(400, "BadRequest", "API version not supported")
}

const disabled = (context: RouteContext, request: ServerRequest): Rejection | undefined =>
  context.options().azure === true ? undefined : notFound(`Invalid URL (${request.method} ${request.path})`)

/** The request's body with `model` set to the deployment (Azure routes by deployment, not by body). */
const withDeployment = (body: Buffer, deployment: string): Buffer | Rejection => {
  const parsed = parseBody(body)
  return isRejection(parsed) ? parsed : Buffer.from(JSON.stringify({ ...parsed, model: deployment }))
}

const deploymentRoute = (context: RouteContext, request: ServerRequest): ReturnType<RouteContext["dispatch"]> => {
  const refused = disabled(context, request) ??
    checkVersion(request, context.options().azureApiVersions ?? defaultAzureApiVersions, true)
  if (refused !== undefined) return refused
  const deployment = pathSegment(request.params[0] ?? "")
  const models = context.options().models
  if (models !== undefined && !models.includes(deployment)) {
    return azureError(
      404,
      "DeploymentNotFound",
      "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."
    )
  }
  const body = withDeployment(request.body, deployment)
  if (isRejection(body)) return body
  return context.dispatch({ ...request, path: `/v1/${request.params[1] ?? ""}`, body, params: [] })
}

/** @internal */
export const azureRoutes: RouteGroup = (context) => [
  {
    method: "POST",
    path: /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/,
    handle: (request) => deploymentRoute(context, request)
  },
  ...(["POST", "GET"] as const).map((method) => ({
    method,
    path: /^\/openai(\/v1\/(?:chat\/completions|embeddings|models(?:\/.+)?))$/,
    handle: (request: ServerRequest) =>
      disabled(context, request) ?? checkVersion(request, ["preview", "latest"], false) ??
        context.dispatch({ ...request, path: request.params[0] ?? "", params: [] })
  }))
]
