/**
 * File-system errors in words a person can act on: `EROFS` is "read-only file system", not the
 * "path does not exist" a library may guess from it.
 *
 * @since 0.2.0
 */

const reasons: Readonly<Record<string, string>> = {
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  ENAMETOOLONG: "the name is too long",
  EEXIST: "it already exists"
}

/**
 * The errno code of an error (`"ENOENT"`, ...), found on the error or its cause.
 *
 * @since 0.2.0
 * @category accessors
 */
export const code = (error: unknown): string | undefined => {
  for (let current: unknown = error, depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && typeof current.code === "string" && /^E[A-Z]+$/.test(current.code)) return current.code
    if ("syscall" in current && "errno" in current && typeof current.errno === "number") break
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

/**
 * A short description: the reason of a known errno code (with the code), else the error's message.
 *
 * @since 0.2.0
 * @category formatting
 */
export const describe = (error: unknown): string => {
  const errno = code(error)
  if (errno !== undefined && reasons[errno] !== undefined) return `${reasons[errno]} (${errno})`
  return typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)
}
