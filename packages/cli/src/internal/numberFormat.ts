// An `Intl.NumberFormat` made on first use: the process's first one loads ICU's locale data
// (~20 ms of CPU), which a run that prints no progress or summary (a quiet run) never needs
// (`npx tsx bench/startup.ts`: a one-line cached run; bench/results/issue-18-startup.md).

/** A number formatter for en-US with `options`, created when it first formats. */
export const lazy = (options: Intl.NumberFormatOptions): { readonly format: (value: number) => string } => {
  let formatter: Intl.NumberFormat | undefined
  return { format: (value) => (formatter ??= new Intl.NumberFormat("en-US", options)).format(value) }
}
