// Module resolution hook (node:module `register`): resolves the workspace packages to their
// TypeScript sources, like `node --conditions=@fastllm/source`.
export const resolve = (specifier, context, nextResolve) =>
  nextResolve(
    specifier,
    context.conditions.includes("@fastllm/source")
      ? context
      : { ...context, conditions: [...context.conditions, "@fastllm/source"] }
  )
