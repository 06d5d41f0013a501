import type { KubeObject } from "./meta.js";

/** HTTP methods the API uses. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Who is making a request, as established by authentication. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

/**
 * One API request, transport-neutral: the HTTP adapter builds it from an HTTP request, the
 * in-process transport builds it directly. `body` is already-parsed JSON (objects, patches,
 * DeleteOptions) unless `rawBody` is given (protobuf and other non-JSON bodies).
 */
export interface ApiRequest {
  method: HttpMethod;
  /** Path without the query string, e.g. `/api/v1/namespaces/default/pods/web`. */
  path: string;
  /** Decoded query parameters; repeated keys become arrays. */
  query?: Record<string, string | string[]>;
  /** Lower-cased header names. */
  headers?: Record<string, string>;
  body?: unknown;
  rawBody?: Uint8Array;
  /** Content type of the body, without parameters. @default "application/json" */
  contentType?: string;
  user?: UserInfo;
}

/** One API response. Exactly one of `body` (JSON) or `stream` (text/plain chunks) is set. */
export interface ApiResponse {
  status: number;
  body?: unknown;
  stream?: AsyncIterable<Uint8Array>;
  contentType?: string;
  headers?: Record<string, string>;
}

/** Watch event types on the wire. */
export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** One watch event; for ERROR, `object` is a Status. */
export interface WatchEvent<T = KubeObject> {
  type: WatchEventType;
  object: T;
}

/** Options accepted by every call that waits. */
export interface CallOptions {
  signal?: AbortSignal;
}
