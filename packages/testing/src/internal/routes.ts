/**
 * The route table of the test server.
 *
 * How to add an endpoint: write a {@link RouteGroup} in its own file under `routes/` (a function
 * from the server's {@link RouteContext} to its routes, each a method, a path (string or RegExp)
 * and a handler returning an `Outcome` or a `Rejection`; state kept in the closure lives as long
 * as the server), then add it to {@link routeGroups} below: one line. Use `context.guarded` for
 * requests that rate limits and faults apply to, `context.json` for the reply, and return the
 * helpers of reply.ts / validate.ts (`invalid`, `notFound`, ...) for errors. Unmatched requests
 * get OpenAI's 404 `Invalid URL`.
 *
 * @internal
 */
import type { RouteGroup } from "./route.js"
import { azureRoutes } from "./routes/azure.js"
import { batchRoutes } from "./routes/batches.js"
import { chatRoutes } from "./routes/chat.js"
import { embeddingRoutes } from "./routes/embeddings.js"
import { modelRoutes } from "./routes/models.js"

/** @internal */
export const routeGroups: ReadonlyArray<RouteGroup> = [
  chatRoutes,
  embeddingRoutes,
  modelRoutes,
  azureRoutes,
  batchRoutes
]
