import * as http from "node:http";
import * as https from "node:https";
import type { ApiRequest, ApiResponse, CallOptions, WatchEvent } from "../api/index.js";
import type { Logger } from "../util/index.js";
import { errorFromResponse, errorFromWatchEvent } from "./handler-transport.js";
import { encodeQuery } from "./paths.js";
import { isAborted } from "./signals.js";
import type { Transport } from "./types.js";

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Base URL of the apiserver, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM CA bundle that signed the server certificate. @default the system roots */
  caPem?: string;
  /** Bearer token sent on every request (only over https, KA-HTTP-2). @default none */
  token?: string;
  /** PEM client certificate for mutual TLS. @default none */
  certPem?: string;
  /** PEM private key of `certPem`. @default none */
  keyPem?: string;
  /** Skip server certificate verification. @default false */
  insecureSkipTlsVerify?: boolean;
  /** User-Agent header. @default "podrun" */
  userAgent?: string;
  logger: Logger;
}

/**
 * A Transport over HTTP(S)/1.1 with keep-alive. JSON bodies go out as JSON; JSON answers are
 * parsed into `body`, any other content type (logs) is returned as a `stream`. Non-2xx answers
 * throw `ApiError.fromStatus(body, code)`. Watches are streaming GETs with `watch=true`
 * parsed as newline-delimited JSON; an ERROR event throws its ApiError (e.g. Expired).
 * Aborting the signal cancels the request; a watch then simply ends. Safe for concurrent use;
 * `close()` drops the pooled connections.
 */
export class HttpTransport implements Transport {
  readonly #base: URL;
  readonly #agent: http.Agent;
  readonly #token: string | undefined;
  readonly #userAgent: string;
  readonly #logger: Logger;
  readonly #isTls: boolean;

  constructor(opts: HttpTransportOptions) {
    this.#base = new URL(opts.server);
    this.#isTls = this.#base.protocol === "https:";
    if (!this.#isTls && this.#base.protocol !== "http:")
      throw new RangeError(`server must be an http(s) URL, got ${opts.server}`);
    if ((opts.certPem === undefined) !== (opts.keyPem === undefined))
      throw new TypeError("certPem and keyPem must be given together");
    this.#agent = this.#isTls
      ? new https.Agent({
          keepAlive: true,
          ...(opts.caPem === undefined ? {} : { ca: opts.caPem }),
          ...(opts.certPem === undefined ? {} : { cert: opts.certPem }),
          ...(opts.keyPem === undefined ? {} : { key: opts.keyPem }),
          rejectUnauthorized: opts.insecureSkipTlsVerify !== true,
          ALPNProtocols: ["http/1.1"],
        })
      : new http.Agent({ keepAlive: true });
    // Credentials never travel in clear text, as kubectl does (KA-HTTP-2).
    this.#token = this.#isTls ? opts.token : undefined;
    this.#userAgent = opts.userAgent ?? "podrun";
    this.#logger = opts.logger;
  }

  async request(req: ApiRequest, opts?: CallOptions): Promise<ApiResponse> {
    const res = await this.#send(req, opts?.signal);
    const status = res.statusCode ?? 0;
    const contentType = (res.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
    if (status < 200 || status > 299) {
      const text = await readAll(res);
      throw errorFromResponse(status, parseMaybeJson(text));
    }
    const headers = flattenHeaders(res.headers);
    if (contentType === "application/json" || contentType.endsWith("+json")) {
      const text = await readAll(res);
      return { status, body: text === "" ? undefined : JSON.parse(text), contentType, headers };
    }
    return { status, stream: res, contentType, headers };
  }

  async *watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterable<WatchEvent> {
    if (opts.signal.aborted) return;
    const query = { ...req.query, watch: "true" };
    let res: http.IncomingMessage;
    try {
      res = await this.#send({ ...req, method: "GET", query }, opts.signal);
    } catch (err) {
      if (isAborted(opts.signal)) return;
      throw err;
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const text = await readAll(res);
      throw errorFromResponse(status, parseMaybeJson(text));
    }
    // Lines are cut from the bytes: a newline byte never occurs inside a multi-byte UTF-8
    // sequence, and decoding each complete line once gives JSON.parse a flat string.
    let partial: Buffer | undefined;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        const buf = partial === undefined ? chunk : Buffer.concat([partial, chunk]);
        partial = undefined;
        let start = 0;
        let nl: number;
        while ((nl = buf.indexOf(NEWLINE, start)) >= 0) {
          const line = buf.toString("utf8", start, nl).trim();
          start = nl + 1;
          if (line === "") continue;
          const ev = parseWatchLine(line);
          if (ev.type === "ERROR") throw errorFromWatchEvent(ev);
          yield ev;
        }
        if (start < buf.length) partial = buf.subarray(start);
      }
    } catch (err) {
      // Aborting tears the socket down mid-stream; for the caller that is a normal end.
      if (isAborted(opts.signal)) return;
      throw err;
    } finally {
      res.destroy();
    }
    const rest = partial?.toString("utf8").trim() ?? "";
    if (rest !== "") {
      const ev = parseWatchLine(rest);
      if (ev.type === "ERROR") throw errorFromWatchEvent(ev);
      yield ev;
    }
  }

  /** Closes idle pooled connections; in-flight requests are not affected. */
  close(): void {
    this.#agent.destroy();
  }

  #send(req: ApiRequest, signal: AbortSignal | undefined): Promise<http.IncomingMessage> {
    const url = new URL(req.path + encodeQuery(req.query), this.#base);
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": this.#userAgent,
      ...req.headers,
    };
    if (this.#token !== undefined) headers["authorization"] = `Bearer ${this.#token}`;
    let payload: Uint8Array | string | undefined;
    if (req.rawBody !== undefined) payload = req.rawBody;
    else if (req.body !== undefined) payload = JSON.stringify(req.body);
    if (payload !== undefined) {
      headers["content-type"] = req.contentType ?? "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const mod = this.#isTls ? https : http;
    return new Promise((resolve, reject) => {
      const r = mod.request(url, {
        method: req.method,
        headers,
        agent: this.#agent,
        ...(signal === undefined ? {} : { signal }),
      });
      r.on("response", resolve);
      r.on("error", (err) => {
        this.#logger.debug("api request failed", { method: req.method, path: req.path, err });
        reject(new Error(`${req.method} ${req.path}`, { cause: err }));
      });
      if (payload !== undefined) r.end(payload);
      else r.end();
    });
  }
}

const NEWLINE = 0x0a;

function parseWatchLine(line: string): WatchEvent {
  const ev = JSON.parse(line) as Partial<WatchEvent>;
  if (typeof ev.type !== "string" || typeof ev.object !== "object")
    throw new TypeError(`malformed watch event: ${line.slice(0, 200)}`);
  return ev as WatchEvent;
}

function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Non-JSON error bodies (proxies, plain-text 404s) still become an ApiError by code.
    return text;
  }
}

/**
 * The whole body as UTF-8 text. Listens for the stream's events directly: an async iterator
 * per response costs more than the rest of a small request's client side.
 */
function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
    });
    res.once("end", () => {
      const only = chunks.length === 1 ? chunks[0] : undefined;
      resolve((only ?? Buffer.concat(chunks)).toString("utf8"));
    });
    res.once("error", reject);
    // A response torn down before its end (socket reset) ends the read as the iterator did.
    res.once("close", () => {
      if (!res.complete) reject(new Error("response closed before its end"));
    });
  });
}

function flattenHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}
