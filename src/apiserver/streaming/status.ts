import { ApiError } from "../../api/index.js";

/** The Status JSON kubectl reads from the exec error channel (KA-WS-3, KA-SPDY-3). */
export interface ExecStatus {
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes: { reason: string; message: string }[] };
}

/**
 * The status for a process that exited with `exitCode`: Success for 0, otherwise
 * NonZeroExitCode with an ExitCode cause (kubectl exits with that code).
 */
export function exitStatus(command: readonly string[], exitCode: number): ExecStatus {
  if (exitCode === 0) return { metadata: {}, status: "Success" };
  return {
    metadata: {},
    status: "Failure",
    // Go prints a []string as `[a b c]`; kubectl shows this text only with -v.
    message: `command terminated with non-zero exit code: error executing command [${command.join(" ")}], exit code ${exitCode}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(exitCode) }] },
  };
}

/** The status for a session that failed after the upgrade; kubectl prints `error: <message>`. */
export function failureStatus(err: unknown): ExecStatus {
  if (err instanceof ApiError) {
    return {
      metadata: {},
      status: "Failure",
      message: err.message,
      reason: err.reason,
      code: err.code,
    };
  }
  return {
    metadata: {},
    status: "Failure",
    message: err instanceof Error ? err.message : "internal error",
    reason: "InternalError",
    code: 500,
  };
}

/** Converts any error into the ApiError answered before an upgrade. */
export function toApiError(err: unknown): ApiError {
  return err instanceof ApiError
    ? err
    : new ApiError(
        "InternalError",
        "an error on the server has prevented the request from succeeding",
        undefined,
        { cause: err },
      );
}
