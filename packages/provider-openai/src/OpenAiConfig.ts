/**
 * The one reader of the OpenAI settings in the environment: `OPENAI_API_KEY`, `OPENAI_BASE_URL`,
 * `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`, `OPENAI_TIMEOUT`, and for Azure OpenAI
 * `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT` and `OPENAI_API_VERSION` (read as the openai
 * SDK's `AzureOpenAI` reads them). `OpenAiProvider.layerConfig`, the CLI's `AutoProvider` and the
 * `fastllm` command all read them through this module, and none of them hides a `ConfigError`.
 *
 * Reading is two steps: {@link environment} reads the variables as they are (each optional), and
 * {@link resolve} turns them into the provider's settings (Azure's base URL and `api-version`),
 * so that a caller with its own overrides (the CLI's `--base-url`) resolves once, with them.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/**
 * The variables as they are set (blank counts as unset).
 *
 * @since 0.2.0
 * @category models
 */
export interface Environment {
  /** `OPENAI_API_KEY` */
  readonly apiKey?: Redacted.Redacted | undefined
  /** `OPENAI_BASE_URL` */
  readonly baseUrl?: string | undefined
  /** `OPENAI_ORG_ID` */
  readonly organization?: string | undefined
  /** `OPENAI_PROJECT_ID` */
  readonly project?: string | undefined
  /** `OPENAI_TIMEOUT` (a duration such as `"60 seconds"`) */
  readonly timeout?: Duration.Duration | undefined
  /** `AZURE_OPENAI_API_KEY` */
  readonly azureApiKey?: Redacted.Redacted | undefined
  /** `AZURE_OPENAI_ENDPOINT` (e.g. `https://my-resource.openai.azure.com`) */
  readonly azureEndpoint?: string | undefined
  /** `OPENAI_API_VERSION` (Azure's `api-version` query parameter) */
  readonly apiVersion?: string | undefined
}

/**
 * Azure OpenAI's differences from OpenAI: the key goes in an `api-key` header, and (on the
 * deployment paths) every URL carries `?api-version=...` and names the deployment
 * (`{baseUrl}/deployments/{deployment}/chat/completions`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Azure {
  /**
   * The `api-version` query parameter (e.g. `"2024-10-21"`). When set, requests go to
   * `/deployments/{deployment}/...` under the base URL (unless the base URL already names a
   * deployment). Leave it out for Azure's `/openai/v1` API, which needs neither.
   */
  readonly apiVersion?: string | undefined
  /** The deployment. Default: each request's `model`, as the openai SDK does. */
  readonly deployment?: string | undefined
}

/**
 * The settings the environment gives the provider.
 *
 * @since 0.2.0
 * @category models
 */
export interface Settings {
  readonly apiKey?: Redacted.Redacted | undefined
  readonly baseUrl?: string | undefined
  readonly organization?: string | undefined
  readonly project?: string | undefined
  readonly timeout?: Duration.Duration | undefined
  /** Set when `AZURE_OPENAI_ENDPOINT` or `AZURE_OPENAI_API_KEY` selects Azure OpenAI. */
  readonly azure?: Azure | undefined
}

const blankToUndefined = (value: Option.Option<string>): string | undefined =>
  Option.getOrUndefined(Option.filter(value, (text) => text.trim() !== ""))

const optionalString = (name: string): Config.Config<string | undefined> =>
  Config.string(name).pipe(Config.option, Config.map(blankToUndefined))

const optionalSecret = (name: string): Config.Config<Redacted.Redacted | undefined> =>
  Config.redacted(name).pipe(
    Config.option,
    Config.map((value) => Option.getOrUndefined(Option.filter(value, (secret) => Redacted.value(secret).trim() !== "")))
  )

/**
 * Reads the variables, each optional; a malformed one (`OPENAI_TIMEOUT=soon`) is a `ConfigError`
 * naming it. Keys are read as `Redacted`.
 *
 * @since 0.2.0
 * @category config
 */
export const environment: Config.Config<Environment> = Config.all({
  apiKey: optionalSecret("OPENAI_API_KEY"),
  baseUrl: optionalString("OPENAI_BASE_URL"),
  organization: optionalString("OPENAI_ORG_ID"),
  project: optionalString("OPENAI_PROJECT_ID"),
  timeout: Config.duration("OPENAI_TIMEOUT").pipe(Config.option, Config.map(Option.getOrUndefined)),
  azureApiKey: optionalSecret("AZURE_OPENAI_API_KEY"),
  azureEndpoint: optionalString("AZURE_OPENAI_ENDPOINT"),
  apiVersion: optionalString("OPENAI_API_VERSION")
})

/**
 * Whether the variables select Azure OpenAI: `AZURE_OPENAI_ENDPOINT` is set, or
 * `AZURE_OPENAI_API_KEY` is set and `OPENAI_API_KEY` is not.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isAzure = (env: Environment): boolean =>
  env.azureEndpoint !== undefined || (env.azureApiKey !== undefined && env.apiKey === undefined)

const missing = (name: string, message: string) => Either.left(ConfigError.MissingData([name], message))

/**
 * Turns the variables into settings. For Azure: the key is `AZURE_OPENAI_API_KEY`, the base URL
 * `OPENAI_BASE_URL` or else `${AZURE_OPENAI_ENDPOINT}/openai`, and `OPENAI_API_VERSION` is
 * required unless the base URL is Azure's `/openai/v1` API. A missing variable is a `ConfigError`
 * that names it.
 *
 * @since 0.2.0
 * @category config
 */
export const resolve = (env: Environment): Either.Either<Settings, ConfigError.ConfigError> => {
  const common = {
    organization: env.organization,
    project: env.project,
    timeout: env.timeout
  }
  if (!isAzure(env)) return Either.right({ ...common, apiKey: env.apiKey, baseUrl: env.baseUrl })
  if (env.azureApiKey === undefined) {
    return missing("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_KEY is required for Azure OpenAI (AZURE_OPENAI_ENDPOINT is set)")
  }
  const baseUrl = env.baseUrl ??
    (env.azureEndpoint === undefined ? undefined : `${env.azureEndpoint.replace(/\/+$/, "")}/openai`)
  if (baseUrl === undefined) {
    return missing(
      "AZURE_OPENAI_ENDPOINT",
      "AZURE_OPENAI_ENDPOINT (e.g. https://my-resource.openai.azure.com) or OPENAI_BASE_URL is required for Azure OpenAI"
    )
  }
  if (env.apiVersion === undefined && !/\/v1\/*$/.test(baseUrl)) {
    return missing(
      "OPENAI_API_VERSION",
      "OPENAI_API_VERSION (e.g. 2024-10-21) is required for Azure OpenAI's deployment paths (or use a base URL ending in /openai/v1)"
    )
  }
  return Either.right({ ...common, apiKey: env.azureApiKey, baseUrl, azure: { apiVersion: env.apiVersion } })
}

/**
 * {@link environment}, resolved: what the provider's layers use.
 *
 * @since 0.2.0
 * @category config
 */
export const settings: Config.Config<Settings> = environment.pipe(Config.mapOrFail(resolve))
