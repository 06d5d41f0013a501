import { encodeJson } from "../objects.js";
import { encodeWatchChunk, encodeWatchEvent } from "../watch.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import {
  ApiError,
  type ApiRequest,
  type ApiResponse,
  type HttpMethod,
  type UserInfo,
  type WatchEvent,
} from "../../api/index.js";
import { nullLogger, type Logger } from "../../util/index.js";
import { ANONYMOUS_USER, isPublicPath, type Authenticator } from "./auth.js";
import { decodeBody, MAX_BODY_BYTES, tooLarge } from "./body.js";
import { serveOpenApi } from "./openapi.js";
import { forbiddenError } from "../rbac/authorizer.js";
import { requestAttributes } from "../rbac/request-info.js";
import type { Authorizer } from "../rbac/types.js";

/**
 * What the HTTP adapter needs from the API server (implemented by `ApiServer`).
 * `handle` answers one request; ApiErrors it throws become Status responses. `watch` yields
 * events until the signal aborts (client disconnect); errors it throws before its first event
 * become Status responses, later ones end the stream.
 */
export interface ApiHandler {
  handle(req: ApiRequest, opts?: { signal?: AbortSignal }): Promise<ApiResponse>;
  watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterable<WatchEvent>;
}

/**
 * Takes over an upgraded connection (exec/attach/port-forward websockets, SPDY). Owns `socket`
 * from then on and must destroy it when done; the server destroys it too at shutdown.
 */
export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  user: UserInfo,
) => void;

/** TLS material of the serving endpoint. */
export interface ServingTls {
  certPem: string;
  keyPem: string;
  /** CA that client certificates must chain to. */
  caPem: string;
}

/** Options of {@link HttpsApiServer}. */
export interface HttpsApiServerOptions {
  handler: ApiHandler;
  tls: ServingTls;
  authenticator: Authenticator;
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 6443 */
  port?: number;
  /** @default nullLogger */
  logger?: Logger;
  /** Connection upgrades; without it upgrades are answered 400. @default undefined */
  onUpgrade?: UpgradeHandler;
  /** @default MAX_BODY_BYTES (3 MiB) */
  maxBodyBytes?: number;
  /** Serve `/openapi/v2` and `/openapi/v3/...` here instead of in the handler. @default true */
  serveOpenApi?: boolean;
  /**
   * Decides every authenticated request, streams and watches included; a denial is a 403
   * Forbidden Status. Without it every authenticated user may do anything. @default undefined
   */
  authorizer?: Authorizer;
}

interface ResolvedOptions {
  handler: ApiHandler;
  tls: ServingTls;
  authenticator: Authenticator;
  host: string;
  port: number;
  logger: Logger;
  onUpgrade: UpgradeHandler | undefined;
  maxBodyBytes: number;
  serveOpenApi: boolean;
  authorizer: Authorizer | undefined;
}

function resolveOptions(o: HttpsApiServerOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    handler: o.handler,
    tls: o.tls,
    authenticator: o.authenticator,
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 6443,
    logger: o.logger ?? nullLogger,
    onUpgrade: o.onUpgrade,
    maxBodyBytes: o.maxBodyBytes ?? MAX_BODY_BYTES,
    serveOpenApi: o.serveOpenApi ?? true,
    authorizer: o.authorizer,
  };
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) {
    throw new RangeError(`HttpsApiServer: invalid port ${r.port}`);
  }
  if (!Number.isInteger(r.maxBodyBytes) || r.maxBodyBytes <= 0) {
    throw new RangeError(`HttpsApiServer: invalid maxBodyBytes ${r.maxBodyBytes}`);
  }
  return r;
}

const METHODS = new Set<string>(["GET", "POST", "PUT", "PATCH", "DELETE"]);

/** How long an idle keep-alive connection stays open (kubectl reuses connections). */
const KEEP_ALIVE_TIMEOUT_MS = 90_000;

function isWatch(method: string, query: Record<string, string | string[]>): boolean {
  const w = query["watch"];
  const v = Array.isArray(w) ? w[0] : w;
  return method === "GET" && (v === "true" || v === "1");
}

/** Decodes a query string; repeated keys become arrays. */
export function decodeQuery(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

function flatHeaders(h: IncomingMessage["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

function statusOf(err: unknown): ApiError {
  return err instanceof ApiError
    ? err
    : new ApiError(
        "InternalError",
        "an error on the server has prevented the request from succeeding",
        undefined,
        {
          cause: err,
        },
      );
}

/**
 * The API server's HTTPS endpoint: HTTP/1.1 only (ALPN `http/1.1`, KA-HTTP-10) with
 * keep-alive; converts HTTP requests to `ApiRequest`s for an {@link ApiHandler}, JSON
 * responses, chunked watch streams (one JSON event per line) and text streams. Authenticates
 * with bearer tokens or client certificates; anonymous requests reach only health and version
 * endpoints. With an authorizer, every authenticated request (watches and stream upgrades
 * included) is authorized before its body is read; a denial is upstream's 403. One `run` at a
 * time.
 */
export class HttpsApiServer {
  readonly #o: ResolvedOptions;
  readonly #server: Server;
  readonly #upgraded = new Set<Duplex>();
  #address: { host: string; port: number } | undefined;
  readonly #ready: Promise<{ host: string; port: number }>;
  #resolveReady: (a: { host: string; port: number }) => void = () => undefined;

  constructor(opts: HttpsApiServerOptions) {
    this.#o = resolveOptions(opts);
    this.#ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
    this.#server = createServer({
      cert: this.#o.tls.certPem,
      key: this.#o.tls.keyPem,
      ca: this.#o.tls.caPem,
      requestCert: true,
      // Unverified or absent client certificates are allowed through; authentication
      // checks `socket.authorized` and falls back to bearer tokens or anonymous.
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // As Go's net/http does for the upstream API server: a watch event is one small write,
      // and Nagle's algorithm may hold it back until the previous one is acknowledged.
      noDelay: true,
    });
    this.#server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      // Observed by #serve itself: every failure is turned into a response or a log line.
      void this.#serve(req, res);
    });
    this.#server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Observed by #upgrade itself, which answers or destroys the socket on any failure.
      void this.#upgrade(req, socket, head);
    });
    this.#server.on("tlsClientError", (err) => {
      this.#o.logger.debug("tls handshake failed", { err });
    });
  }

  /** Resolves with the bound address once listening. */
  ready(): Promise<{ host: string; port: number }> {
    return this.#ready;
  }

  /** The bound address, or undefined before `run` is listening. */
  address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  /**
   * Listens until `signal` aborts, then closes every connection (watches and upgraded streams
   * included) and resolves. Rejects if listening fails (e.g. EADDRINUSE).
   */
  async run(signal: AbortSignal): Promise<void> {
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new Error(`listen on ${this.#o.host}:${this.#o.port}`, { cause: err }));
      };
      server.once("error", onError);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    const addr = server.address();
    this.#address =
      addr !== null && typeof addr === "object"
        ? { host: addr.address, port: addr.port }
        : { host: this.#o.host, port: this.#o.port };
    this.#o.logger.info("apiserver listening", {
      address: `${this.#address.host}:${this.#address.port}`,
    });
    this.#resolveReady(this.#address);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
        for (const s of this.#upgraded) s.destroy();
      };
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop, { once: true });
    });
    this.#address = undefined;
  }

  async #authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const socket = req.socket;
    const verified = socket instanceof TLSSocket && socket.authorized;
    const cert = verified ? peerCertificate(socket) : undefined;
    const result = await this.#o.authenticator.authenticate({
      headers: req.headers,
      clientCertVerified: verified,
      ...(cert?.subject === undefined ? {} : { clientCertSubject: cert.subject }),
    });
    switch (result.type) {
      case "user":
        return result.user;
      case "anonymous":
        return ANONYMOUS_USER;
      case "rejected":
        return undefined;
    }
  }

  /**
   * The 403 for a request the authorizer denies, or undefined when it may proceed.
   * Anonymous requests reach only public paths (checked before) and are not asked about.
   */
  async #forbidden(
    user: UserInfo,
    method: string,
    url: URL,
    query: Record<string, string | string[]>,
  ): Promise<ApiError | undefined> {
    const authorizer = this.#o.authorizer;
    if (authorizer === undefined || user === ANONYMOUS_USER) return undefined;
    const attrs = requestAttributes(user, method, url.pathname, query);
    const decision = await authorizer.authorize(attrs);
    if (decision.allowed) return undefined;
    this.#o.logger.debug("request forbidden", {
      user: user.username,
      verb: attrs.verb,
      path: url.pathname,
    });
    return forbiddenError(attrs, decision.reason);
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? "/", "https://localhost");
    try {
      await this.#serveInner(req, res, url);
    } catch (err) {
      this.#o.logger.error("request failed", { method: req.method, path: url.pathname, err });
      if (!res.headersSent) writeJson(res, statusOf(err).code, statusOf(err).toStatus());
      else res.destroy();
    } finally {
      this.#o.logger.debug("request", {
        method: req.method,
        path: url.pathname,
        status: res.statusCode,
        userAgent: req.headers["user-agent"],
        command: req.headers["kubectl-command"],
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    }
  }

  async #serveInner(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const user = await this.#authenticate(req);
    if (user === undefined || (user === ANONYMOUS_USER && !isPublicPath(url.pathname))) {
      req.resume();
      writeJson(res, 401, new ApiError("Unauthorized", "Unauthorized").toStatus());
      return;
    }
    if (!METHODS.has(method)) {
      req.resume();
      const err = new ApiError(
        "MethodNotAllowed",
        `the server does not allow this method on the requested resource`,
      );
      writeJson(res, err.code, err.toStatus());
      return;
    }
    const query = decodeQuery(url.search);
    const denied = await this.#forbidden(user, method, url, query);
    if (denied !== undefined) {
      req.resume();
      writeJson(res, denied.code, denied.toStatus());
      return;
    }
    const raw = await readBody(req, this.#o.maxBodyBytes);
    if (raw === "tooLarge") {
      // The rest of the body was not read, so the connection cannot be reused.
      res.setHeader("Connection", "close");
      const err = tooLarge(this.#o.maxBodyBytes);
      writeJson(res, err.code, err.toStatus());
      return;
    }
    const decoded = decodeBody(raw, req.headers["content-type"], { isPatch: method === "PATCH" });
    const apiReq: ApiRequest = {
      method: method as HttpMethod,
      path: url.pathname,
      query,
      headers: flatHeaders(req.headers),
      contentType: decoded.contentType,
      user,
    };
    if (decoded.body !== undefined) apiReq.body = decoded.body;
    if (decoded.rawBody !== undefined) apiReq.rawBody = decoded.rawBody;

    const abort = new LazyAbort(res);
    try {
      if (
        this.#o.serveOpenApi &&
        (url.pathname.startsWith("/openapi/") || url.pathname === "/openapi")
      ) {
        await writeResponse(res, serveOpenApi(apiReq), abort);
      } else if (isWatch(method, query)) {
        await this.#serveWatch(apiReq, res, abort.signal);
      } else {
        let resp: ApiResponse;
        try {
          resp = await this.#o.handler.handle(apiReq, abort);
        } catch (err) {
          const e = statusOf(err);
          if (e.reason === "InternalError") {
            this.#o.logger.error("handler failed", { method, path: url.pathname, err });
          }
          writeJson(res, e.code, e.toStatus());
          return;
        }
        await writeResponse(res, resp, abort);
      }
    } finally {
      abort.finish();
    }
  }

  async #serveWatch(req: ApiRequest, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const it = this.#o.handler.watch(req, { signal })[Symbol.asyncIterator]();
    let next = it.next();
    // Give a watch that fails up front (unknown resource, expired resourceVersion checked
    // before any I/O) the chance to do so before the 200 header commits us to a stream.
    const early = await Promise.race([
      next.then(
        (r) => ({ done: true as const, r }),
        (err: unknown) => ({ done: true as const, err }),
      ),
      new Promise<{ done: false }>((resolve) =>
        setImmediate(() => {
          resolve({ done: false });
        }),
      ),
    ]);
    if (early.done && "err" in early) {
      const e = statusOf(early.err);
      writeJson(res, e.code, e.toStatus());
      return;
    }
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked",
    });
    res.flushHeaders();
    try {
      for (;;) {
        const r = await next;
        if (r.done || signal.aborted) break;
        // Straight to the connection: the chunk is framed once per event and shared by every
        // watcher, and the bytes leave now instead of after every other watcher's turn.
        const sock = res.socket;
        const ok =
          sock === null
            ? res.write(encodeWatchEvent(r.value))
            : sock.write(encodeWatchChunk(r.value));
        if (!ok) await drained(sock ?? res, signal);
        next = it.next();
      }
    } catch (err) {
      if (!signal.aborted) {
        const e = statusOf(err);
        this.#o.logger.warn("watch ended with error", { path: req.path, err });
        res.write(JSON.stringify({ type: "ERROR", object: e.toStatus() }) + "\n");
      }
    } finally {
      await it.return?.();
    }
    res.end();
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    this.#upgraded.add(socket);
    socket.once("close", () => this.#upgraded.delete(socket));
    socket.on("error", (err) => {
      this.#o.logger.debug("upgraded connection error", { err });
    });
    try {
      const user = await this.#authenticate(req);
      if (user === undefined || user === ANONYMOUS_USER) {
        rejectUpgrade(socket, new ApiError("Unauthorized", "Unauthorized"));
        return;
      }
      const url = new URL(req.url ?? "/", "https://localhost");
      const denied = await this.#forbidden(
        user,
        (req.method ?? "GET").toUpperCase(),
        url,
        decodeQuery(url.search),
      );
      if (denied !== undefined) {
        rejectUpgrade(socket, denied);
        return;
      }
      if (this.#o.onUpgrade === undefined) {
        rejectUpgrade(socket, new ApiError("BadRequest", "connection upgrades are not supported"));
        return;
      }
      this.#o.onUpgrade(req, socket, head, user);
    } catch (err) {
      this.#o.logger.error("upgrade failed", { path: req.url, err });
      rejectUpgrade(socket, statusOf(err));
    }
  }
}

/**
 * The cancellation signal of one request, aborted when the client disconnects or the request
 * finishes. Created on first use of `signal`: most requests (creates, gets) never read it, and
 * an AbortController plus its abort event cost more than the rest of the adapter's work.
 */
class LazyAbort {
  readonly #res: ServerResponse;
  #ctl: AbortController | undefined;
  /** Why the request is over (client gone, or finished), once it is. */
  #endedBy: string | undefined;
  readonly #onClose = (): void => {
    this.#end("client disconnected");
  };

  constructor(res: ServerResponse) {
    this.#res = res;
    res.on("close", this.#onClose);
  }

  get signal(): AbortSignal {
    if (this.#ctl === undefined) {
      this.#ctl = new AbortController();
      if (this.#endedBy !== undefined) this.#ctl.abort(new Error(this.#endedBy));
    }
    return this.#ctl.signal;
  }

  /** Ends the request: a signal handed out is aborted, a later one is born aborted. */
  finish(): void {
    this.#res.off("close", this.#onClose);
    this.#end("request finished");
  }

  #end(reason: string): void {
    if (this.#endedBy !== undefined) return;
    this.#endedBy = reason;
    this.#ctl?.abort(new Error(reason));
  }
}

/** Peer certificates by connection: a keep-alive connection's certificate never changes. */
const peerCertificates = new WeakMap<TLSSocket, ReturnType<TLSSocket["getPeerCertificate"]>>();

function peerCertificate(socket: TLSSocket): ReturnType<TLSSocket["getPeerCertificate"]> {
  let cert = peerCertificates.get(socket);
  if (cert === undefined) {
    cert = socket.getPeerCertificate();
    peerCertificates.set(socket, cert);
  }
  return cert;
}

function rejectUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(
    `HTTP/1.1 ${err.code} ${err.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Reads the whole request body (chunked or sized, KA-HTTP-5), stopping past `limit`. */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array | "tooLarge"> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume();
    return Promise.resolve("tooLarge");
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve("tooLarge");
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      reject(new Error("read request body", { cause: err }));
    });
  });
}

function writeJson(res: ServerResponse, status: number, body: unknown, contentType?: string): void {
  // Encoded once into bytes: the length header and the write share them.
  const bytes = encodeJson(body);
  res.writeHead(status, {
    "Content-Type": contentType ?? "application/json",
    "Content-Length": bytes.length,
    "Cache-Control": "no-cache, private",
  });
  res.end(bytes);
}

function drained(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    stream.on("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Writes an ApiResponse: JSON body, raw text/bytes for non-JSON types, or a chunked stream. */
async function writeResponse(
  res: ServerResponse,
  resp: ApiResponse,
  abort: { readonly signal: AbortSignal },
): Promise<void> {
  for (const [k, v] of Object.entries(resp.headers ?? {})) res.setHeader(k, v);
  if (resp.stream !== undefined) {
    const signal = abort.signal;
    res.writeHead(resp.status, {
      "Content-Type": resp.contentType ?? "text/plain",
      "Transfer-Encoding": "chunked",
      "Cache-Control": "no-cache, private",
    });
    res.flushHeaders();
    for await (const chunk of resp.stream) {
      if (signal.aborted) break;
      if (!res.write(chunk)) await drained(res, signal);
    }
    res.end();
    return;
  }
  const ct = resp.contentType ?? "application/json";
  const isJson = ct.startsWith("application/json") || ct.endsWith("+json");
  // Bytes are written as they are (pre-serialized JSON, protobuf); strings only for non-JSON.
  if (resp.body instanceof Uint8Array || (!isJson && typeof resp.body === "string")) {
    const buf = typeof resp.body === "string" ? Buffer.from(resp.body) : resp.body;
    res.writeHead(resp.status, { "Content-Type": ct, "Content-Length": buf.length });
    res.end(buf);
    return;
  }
  if (resp.body === undefined) {
    res.writeHead(resp.status, { "Content-Type": ct, "Content-Length": 0 });
    res.end();
    return;
  }
  writeJson(res, resp.status, resp.body, ct);
}
