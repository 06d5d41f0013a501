import type {
  ApiRequest,
  ApiResponse,
  CallOptions,
  DeleteOptions,
  KubeList,
  KubeObject,
  WatchEvent,
} from "../api/index.js";

/**
 * Moves API requests to the apiserver: over HTTPS, or in-process by calling the apiserver's
 * handler directly. Errors come back as `ApiError`s in both cases (non-2xx → ApiError).
 */
export interface Transport {
  /** One request/response. Non-2xx responses are thrown as ApiError. */
  request(req: ApiRequest, opts?: CallOptions): Promise<ApiResponse>;
  /** A watch stream; ends when the signal aborts or the server closes it; ERROR events → thrown ApiError. */
  watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterable<WatchEvent>;
}

/** Options for list and watch. */
export interface ListOptions extends CallOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

/** Options for writes. */
export interface WriteOptions extends CallOptions {
  fieldManager?: string;
  dryRun?: boolean;
}

/** Patch content types (KA-PATCH-1). */
export type PatchType = "merge" | "strategic" | "json" | "apply";

/**
 * A typed client for one resource in one namespace (or cluster-scoped). Thin wrapper over a
 * Transport; every call may be cancelled through `signal`.
 */
export interface ResourceClient<T extends KubeObject> {
  get(name: string, opts?: CallOptions): Promise<T>;
  list(opts?: ListOptions): Promise<KubeList<T>>;
  create(obj: T, opts?: WriteOptions): Promise<T>;
  update(obj: T, opts?: WriteOptions): Promise<T>;
  /** PUT to the `status` subresource. */
  updateStatus(obj: T, opts?: WriteOptions): Promise<T>;
  patch(
    name: string,
    type: PatchType,
    patch: unknown,
    opts?: WriteOptions & { subresource?: string; force?: boolean },
  ): Promise<T>;
  /** Returns the object (graceful deletion in progress) or undefined when it is gone. */
  delete(name: string, opts?: CallOptions & DeleteOptions): Promise<T | undefined>;
  watch(opts: ListOptions & { signal: AbortSignal }): AsyncIterable<WatchEvent<T>>;
  /** POST to a subresource (`binding`, `eviction`) and return the decoded response. */
  createSubresource(
    name: string,
    subresource: string,
    body: unknown,
    opts?: CallOptions,
  ): Promise<unknown>;
}

/** Identifies a resource: API group (`""` for core), version and plural name. */
export interface ResourceRef {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}
