// The part of madge 8's API that ImportCycles.test.ts uses (madge ships no types).
declare module "madge" {
  interface MadgeResult {
    circular(): Array<Array<string>>
  }
  interface MadgeOptions {
    readonly fileExtensions?: ReadonlyArray<string>
    readonly detectiveOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>
  }
  function madge(path: string | ReadonlyArray<string>, options?: MadgeOptions): Promise<MadgeResult>
  export default madge
}
