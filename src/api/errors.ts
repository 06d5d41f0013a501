import type { Status, StatusCause, StatusDetails } from "./meta.js";

/** The closed set of API error reasons; each maps to one HTTP code (STYLE.md §5). */
export type ApiErrorReason =
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Invalid"
  | "BadRequest"
  | "Forbidden"
  | "Unauthorized"
  | "MethodNotAllowed"
  | "NotAcceptable"
  | "UnsupportedMediaType"
  | "RequestEntityTooLarge"
  | "Gone"
  | "Expired"
  | "Timeout"
  | "TooManyRequests"
  | "InternalError"
  | "ServiceUnavailable";

const CODES: Record<ApiErrorReason, number> = {
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  BadRequest: 400,
  Forbidden: 403,
  Unauthorized: 401,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  UnsupportedMediaType: 415,
  RequestEntityTooLarge: 413,
  Gone: 410,
  Expired: 410,
  Timeout: 504,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
};

/**
 * An API error: a Kubernetes reason, a Kubernetes-worded message and optional details.
 * Converts one-to-one to and from a `Status`, so it crosses the HTTP transport unchanged.
 */
export class ApiError extends Error {
  readonly reason: ApiErrorReason;
  readonly code: number;
  readonly details: StatusDetails | undefined;

  constructor(
    reason: ApiErrorReason,
    message: string,
    details?: StatusDetails,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    this.name = "ApiError";
    this.reason = reason;
    this.code = CODES[reason];
    this.details = details;
  }

  /** The Status body for this error. */
  toStatus(): Status {
    const s: Status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details !== undefined) s.details = this.details;
    return s;
  }

  /** Rebuilds an ApiError from a Status body (HTTP transport, client side). */
  static fromStatus(status: Partial<Status>, httpCode: number): ApiError {
    const reason = (Object.keys(CODES) as ApiErrorReason[]).includes(
      status.reason as ApiErrorReason,
    )
      ? (status.reason as ApiErrorReason)
      : reasonForCode(httpCode);
    return new ApiError(reason, status.message ?? `HTTP ${httpCode}`, status.details);
  }
}

function reasonForCode(code: number): ApiErrorReason {
  const found = (Object.entries(CODES) as [ApiErrorReason, number][]).find(([, c]) => c === code);
  return found?.[0] ?? "InternalError";
}

/** `<resource> "<name>" not found` (group-qualified resource, e.g. `pods`, `deployments.apps`). */
export function notFound(resource: string, name: string): ApiError {
  const [res, group] = splitQualified(resource);
  return new ApiError("NotFound", `${resource} "${name}" not found`, { name, group, kind: res });
}

/** `<resource> "<name>" already exists`. */
export function alreadyExists(resource: string, name: string): ApiError {
  const [res, group] = splitQualified(resource);
  return new ApiError("AlreadyExists", `${resource} "${name}" already exists`, {
    name,
    group,
    kind: res,
  });
}

/** The optimistic-concurrency conflict upstream returns for a stale resourceVersion. */
export function conflict(resource: string, name: string, detail?: string): ApiError {
  const [res, group] = splitQualified(resource);
  return new ApiError(
    "Conflict",
    `Operation cannot be fulfilled on ${resource} "${name}": ${detail ?? "the object has been modified; please apply your changes to the latest version and try again"}`,
    { name, group, kind: res },
  );
}

/** 400 BadRequest with the given message. */
export function badRequest(message: string): ApiError {
  return new ApiError("BadRequest", message);
}

/** 410 Expired: `too old resource version: <rv> (<current>)`. */
export function expired(message: string): ApiError {
  return new ApiError("Expired", message);
}

function splitQualified(resource: string): [string, string] {
  const i = resource.indexOf(".");
  return i < 0 ? [resource, ""] : [resource.slice(0, i), resource.slice(i + 1)];
}

/** True if `err` is an ApiError with `reason`. */
export function hasReason(err: unknown, reason: ApiErrorReason): err is ApiError {
  return err instanceof ApiError && err.reason === reason;
}
export const isNotFound = (err: unknown): err is ApiError => hasReason(err, "NotFound");
export const isAlreadyExists = (err: unknown): err is ApiError => hasReason(err, "AlreadyExists");
export const isConflict = (err: unknown): err is ApiError => hasReason(err, "Conflict");
export const isInvalid = (err: unknown): err is ApiError => hasReason(err, "Invalid");
export const isExpired = (err: unknown): err is ApiError =>
  hasReason(err, "Expired") || hasReason(err, "Gone");

/** Validation error types as upstream's field.ErrorType (PL-VAL-1). */
export type FieldErrorType =
  | "Required"
  | "Invalid"
  | "Duplicate"
  | "Forbidden"
  | "NotSupported"
  | "NotFound"
  | "TooLong"
  | "TooMany"
  | "Internal";

/** One validation problem at a field path (`spec.containers[0].image`). */
export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** The offending value (printed for Invalid, Duplicate, NotSupported, NotFound). */
  value?: unknown;
  detail?: string;
  /** For NotSupported: the allowed values. */
  supported?: string[];
}

const CAUSE_REASON: Record<FieldErrorType, string> = {
  Required: "FieldValueRequired",
  Invalid: "FieldValueInvalid",
  Duplicate: "FieldValueDuplicate",
  Forbidden: "FieldValueForbidden",
  NotSupported: "FieldValueNotSupported",
  NotFound: "FieldValueNotFound",
  TooLong: "FieldValueTooLong",
  TooMany: "FieldValueTooMany",
  Internal: "InternalError",
};

/** Go's %#v-like rendering of a value, as upstream's field errors print it. */
function renderValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** The message of one field error without its path: `Invalid value: "x": detail`. */
export function fieldErrorBody(e: FieldError): string {
  switch (e.type) {
    case "Required":
      return e.detail ? `Required value: ${e.detail}` : "Required value";
    case "Forbidden":
      return e.detail ? `Forbidden: ${e.detail}` : "Forbidden";
    case "Invalid":
      return `Invalid value: ${renderValue(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
    case "Duplicate":
      return `Duplicate value: ${renderValue(e.value)}`;
    case "NotFound":
      return `Not found: ${renderValue(e.value)}`;
    case "NotSupported": {
      const sup = e.supported?.length
        ? `: supported values: ${e.supported.map((s) => JSON.stringify(s)).join(", ")}`
        : "";
      return `Unsupported value: ${renderValue(e.value)}${sup}`;
    }
    case "TooLong":
      return e.detail ? `Too long: ${e.detail}` : "Too long";
    case "TooMany":
      return e.detail ? `Too many: ${e.detail}` : "Too many";
    case "Internal":
      return `Internal error: ${e.detail ?? ""}`;
  }
}

/** `<path>: <body>` as upstream's field.Error.Error(). */
export function formatFieldError(e: FieldError): string {
  return `${e.field}: ${fieldErrorBody(e)}`;
}

/**
 * The 422 Invalid error for a set of field errors (PL-VAL-2): message
 * `<Kind> "<name>" is invalid: <err>` or `… is invalid: [<e1>, <e2>]`, causes per error.
 */
export function invalid(kind: string, name: string, errors: FieldError[], group = ""): ApiError {
  const msgs = errors.map(formatFieldError);
  const joined = msgs.length === 1 ? (msgs[0] ?? "") : `[${msgs.join(", ")}]`;
  const causes: StatusCause[] = errors.map((e) => ({
    reason: CAUSE_REASON[e.type],
    message: fieldErrorBody(e),
    field: e.field,
  }));
  return new ApiError(
    "Invalid",
    `${kind}${group ? `.${group}` : ""} "${name}" is invalid: ${joined}`,
    {
      name,
      group,
      kind,
      causes,
    },
  );
}
