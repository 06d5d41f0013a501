import {
  ApiError,
  type ApiRequest,
  type ApiResponse,
  type CallOptions,
  type Status,
  type WatchEvent,
} from "../api/index.js";
import { abortReason } from "../util/index.js";
import { isAborted } from "./signals.js";
import type { Transport } from "./types.js";

/**
 * The in-process side of the apiserver, as the client sees it: the apiserver's request handler
 * has exactly this shape and is passed in by `cmd/`.
 */
export interface ApiHandler {
  /**
   * Serves one request; errors may be returned as non-2xx Status responses or thrown. The
   * signal, when given, ends streaming answers (`log?follow=true`).
   */
  handle(req: ApiRequest, opts?: CallOptions): Promise<ApiResponse>;
  /** Serves one watch; ends when the signal aborts; ERROR events carry a Status. */
  watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterable<WatchEvent>;
}

/** The ApiError a non-2xx response stands for (the body is a Status, or anything else). */
export function errorFromResponse(status: number, body: unknown): ApiError {
  if (typeof body === "object" && body !== null) {
    return ApiError.fromStatus(body, status);
  }
  const message = typeof body === "string" && body !== "" ? body : `HTTP ${status}`;
  return ApiError.fromStatus({ message }, status);
}

/** Throws the ApiError carried by an ERROR watch event. */
export function errorFromWatchEvent(ev: WatchEvent<unknown>): ApiError {
  const st = (ev.object ?? {}) as Partial<Status>;
  return ApiError.fromStatus(st, st.code ?? 500);
}

/**
 * A Transport that calls an {@link ApiHandler} in the same process.
 * Objects are deep-copied (structuredClone) in both directions so neither side can mutate the
 * other's state; non-2xx responses and ERROR watch events become thrown ApiErrors, exactly as
 * with {@link HttpTransport}. Safe for concurrent use. The handler sees no signal for plain
 * requests; an aborted signal rejects the call with the abort reason without waiting.
 */
export class HandlerTransport implements Transport {
  readonly #handler: ApiHandler;

  constructor(handler: ApiHandler) {
    this.#handler = handler;
  }

  async request(req: ApiRequest, opts?: CallOptions): Promise<ApiResponse> {
    opts?.signal?.throwIfAborted();
    const res = await raceSignal(
      this.#handler.handle(
        copyRequest(req),
        opts?.signal === undefined ? {} : { signal: opts.signal },
      ),
      opts?.signal,
    );
    if (res.status < 200 || res.status > 299) {
      throw errorFromResponse(res.status, res.body);
    }
    const out: ApiResponse = { status: res.status };
    if (res.body !== undefined) out.body = structuredClone(res.body);
    if (res.stream !== undefined) out.stream = res.stream;
    if (res.contentType !== undefined) out.contentType = res.contentType;
    if (res.headers !== undefined) out.headers = { ...res.headers };
    return out;
  }

  async *watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterable<WatchEvent> {
    if (opts.signal.aborted) return;
    for await (const ev of this.#handler.watch(copyRequest(req), opts)) {
      if (ev.type === "ERROR") throw errorFromWatchEvent(ev);
      yield structuredClone(ev);
      if (isAborted(opts.signal)) return;
    }
  }
}

function copyRequest(req: ApiRequest): ApiRequest {
  const out: ApiRequest = { ...req };
  if (req.body !== undefined) out.body = structuredClone(req.body);
  if (req.query !== undefined) out.query = { ...req.query };
  if (req.headers !== undefined) out.headers = { ...req.headers };
  return out;
}

/** Resolves like `p`, or rejects with the abort reason as soon as `signal` aborts. */
async function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      reject(abortReason(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([p, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
  }
}
