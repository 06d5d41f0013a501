/** Runtime error reasons (STYLE.md §5). */
export type RuntimeErrorReason =
  "NotFound" | "AlreadyExists" | "InvalidState" | "Unavailable" | "Failed";

/** An error from the runtime layer; a tool failure keeps command, exit code and stderr tail. */
export class RuntimeError extends Error {
  readonly reason: RuntimeErrorReason;
  readonly command: string[] | undefined;
  readonly exitCode: number | undefined;
  readonly stderr: string | undefined;

  constructor(
    reason: RuntimeErrorReason,
    message: string,
    opts: { cause?: unknown; command?: string[]; exitCode?: number; stderr?: string } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "RuntimeError";
    this.reason = reason;
    this.command = opts.command;
    this.exitCode = opts.exitCode;
    this.stderr = opts.stderr;
  }
}

/** True if `err` is a RuntimeError with `reason`. */
export function isRuntimeError(err: unknown, reason?: RuntimeErrorReason): err is RuntimeError {
  return err instanceof RuntimeError && (reason === undefined || err.reason === reason);
}
