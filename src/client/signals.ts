/**
 * Whether `signal` has aborted, read fresh. A function call keeps the type checker from
 * narrowing `signal.aborted` to false after an earlier check, since an await in between
 * may have changed it.
 */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
