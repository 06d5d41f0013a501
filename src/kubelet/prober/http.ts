import * as net from "node:net";
import * as tls from "node:tls";
import type { Clock } from "../../util/index.js";
import { dialErrorText, errCode, joinHostPort, readErrorText } from "./net-errors.js";
import type { TimerScheduler, WheelTimer } from "./timer-wheel.js";

/**
 * Reason used to cancel internal timers once a request settled; shared so that cancelling
 * does not build a DOMException (with a stack) per probe.
 */
const SETTLED = new Error("probe settled");

/** Largest response body read, like upstream's `maxRespBodyLength` (10 KiB). */
export const MAX_BODY_BYTES = 10 * 1024;
const MAX_REDIRECTS = 10;
/** How long a finished response's connection may stay open waiting for the server's close. */
const CLOSE_GRACE_MS = 1000;

/** One GET as upstream's probe/hook HTTP clients do it. */
export interface HttpGetRequest {
  url: URL;
  /** Header name/value pairs in order; repeated names are sent repeatedly. */
  headers: [string, string][];
  /** Overall deadline (connect + redirects + headers + body); undefined = none. */
  timeoutMs?: number;
  /** Follow redirects to other hosts too (lifecycle hooks) instead of stopping there (probes). */
  followNonLocalRedirects: boolean;
  clock: Clock;
  /** Where the deadline timer goes (the prober's timer wheel); default: a clock sleep. */
  timers?: TimerScheduler;
  signal?: AbortSignal;
}

/** What came back: status, first 10 KiB of body, the final URL. */
export interface HttpGetResponse {
  statusCode: number;
  body: string;
  url: URL;
}

/**
 * A failed GET with Go's `*url.Error` text (`Get "<url>": <cause>`). `httpResponseToHttps`
 * marks Go's "server gave HTTP response to HTTPS client" case (PL-HOOK-5).
 */
export class HttpGetError extends Error {
  readonly httpResponseToHttps: boolean;
  constructor(message: string, httpResponseToHttps = false) {
    super(message);
    this.name = "HttpGetError";
    this.httpResponseToHttps = httpResponseToHttps;
  }
}

/**
 * The overall deadline and outer cancellation of one GET, without AbortControllers on the
 * prober's path (one timer-wheel entry per probe). `listener` is the in-flight request's.
 */
class Deadline {
  expired = false;
  aborted = false;
  listener: (() => void) | undefined;
  readonly clock: Clock;
  readonly timers: TimerScheduler | undefined;
  readonly #outer: AbortSignal | undefined;
  readonly #onOuter = (): void => {
    this.#fire(false);
  };
  #timer: WheelTimer | undefined;
  #stop: AbortController | undefined;

  constructor(req: HttpGetRequest) {
    const outer = req.signal;
    this.#outer = outer;
    this.clock = req.clock;
    this.timers = req.timers;
    if (outer?.aborted === true) this.aborted = true;
    else outer?.addEventListener("abort", this.#onOuter, { once: true });
    const timeoutMs = req.timeoutMs;
    if (timeoutMs === undefined || this.aborted) return;
    if (req.timers !== undefined) {
      this.#timer = req.timers.schedule(req.clock.now() + timeoutMs, () => {
        this.#fire(true);
      });
      return;
    }
    const stop = new AbortController();
    this.#stop = stop;
    req.clock.sleep(timeoutMs, stop.signal).then(
      () => {
        this.#fire(true);
      },
      // Rejected only when cancel() stopped the timer: nothing to do.
      () => undefined,
    );
  }

  #fire(expired: boolean): void {
    if (this.aborted) return;
    this.aborted = true;
    this.expired = expired;
    const l = this.listener;
    this.listener = undefined;
    l?.();
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#stop?.abort(SETTLED);
    this.#outer?.removeEventListener("abort", this.#onOuter);
  }
}

/**
 * Performs a GET like Go's http.Client with `DisableKeepAlives` and upstream's redirect
 * checker: same-host redirects are followed (at most 10), others end the chain and return the
 * 3xx response. HTTPS skips certificate verification. Throws HttpGetError with Go's texts.
 */
export async function httpGet(req: HttpGetRequest): Promise<HttpGetResponse> {
  const dl = new Deadline(req);
  try {
    let url = req.url;
    const firstHost = url.hostname;
    for (let redirects = 0; ; redirects++) {
      const res = await oneRequest(url, req.headers, dl);
      const loc = res.location;
      if (
        res.statusCode >= 300 &&
        res.statusCode < 400 &&
        loc !== undefined &&
        res.statusCode !== 304
      ) {
        let next: URL;
        try {
          next = new URL(loc, url);
        } catch {
          throw new HttpGetError(
            `Get ${JSON.stringify(url.href)}: failed to parse Location header ${JSON.stringify(loc)}`,
          );
        }
        if (!req.followNonLocalRedirects && next.hostname !== firstHost) return res;
        if (redirects + 1 >= MAX_REDIRECTS) {
          throw new HttpGetError(`Get ${JSON.stringify(next.href)}: stopped after 10 redirects`);
        }
        url = next;
        continue;
      }
      return res;
    }
  } finally {
    dl.cancel();
  }
}

/** Incremental HTTP/1.1 response parser: status, headers, body capped at MAX_BODY_BYTES. */
class ResponseParser {
  #buf: Buffer = Buffer.alloc(0);
  #head: { statusCode: number; headers: Map<string, string> } | undefined;
  #body: Buffer[] = [];
  #bodyLen = 0;
  #mode: "length" | "chunked" | "eof" | "none" = "eof";
  #remaining = 0;
  #chunkLeft = -1;
  done = false;

  get head(): { statusCode: number; headers: Map<string, string> } | undefined {
    return this.#head;
  }

  get body(): Buffer {
    return Buffer.concat(this.#body).subarray(0, MAX_BODY_BYTES);
  }

  /** Feeds bytes; throws Error("malformed HTTP response") on garbage. */
  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (this.#head === undefined) this.#parseHead();
    if (this.#head !== undefined) this.#parseBody();
  }

  /** The peer closed the connection. */
  end(): void {
    if (this.#head !== undefined && this.#mode === "eof") this.done = true;
  }

  #parseHead(): void {
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end === -1) {
        if (this.#buf.length > 1 << 20) throw new Error("malformed HTTP response");
        return;
      }
      const lines = this.#buf.subarray(0, end).toString("latin1").split("\r\n");
      this.#buf = this.#buf.subarray(end + 4);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
      if (m === null) throw new Error(`malformed HTTP response ${JSON.stringify(lines[0] ?? "")}`);
      const statusCode = Number(m[1]);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const i = line.indexOf(":");
        if (i <= 0) continue;
        const name = line.slice(0, i).trim().toLowerCase();
        if (!headers.has(name)) headers.set(name, line.slice(i + 1).trim());
      }
      // 1xx informational responses precede the real one.
      if (statusCode >= 100 && statusCode < 200) continue;
      this.#head = { statusCode, headers };
      const te = headers.get("transfer-encoding")?.toLowerCase() ?? "";
      const cl = headers.get("content-length");
      if (statusCode === 204 || statusCode === 304) this.#mode = "none";
      else if (te.includes("chunked")) this.#mode = "chunked";
      else if (cl !== undefined && /^\d+$/.test(cl)) {
        this.#mode = "length";
        this.#remaining = Number(cl);
      }
      if (this.#mode === "none" || (this.#mode === "length" && this.#remaining === 0)) {
        this.done = true;
      }
      return;
    }
  }

  #isDone(): boolean {
    return this.done;
  }

  #take(b: Buffer): void {
    if (this.#bodyLen < MAX_BODY_BYTES) {
      this.#body.push(b);
      this.#bodyLen += b.length;
    }
    // Upstream reads at most 10 KiB and ignores the rest.
    if (this.#bodyLen >= MAX_BODY_BYTES) this.done = true;
  }

  #parseBody(): void {
    if (this.done) return;
    if (this.#mode === "eof") {
      this.#take(this.#buf);
      this.#buf = Buffer.alloc(0);
    } else if (this.#mode === "length") {
      const n = Math.min(this.#remaining, this.#buf.length);
      this.#take(this.#buf.subarray(0, n));
      this.#buf = this.#buf.subarray(n);
      this.#remaining -= n;
      if (this.#remaining === 0) this.done = true;
    } else if (this.#mode === "chunked") {
      while (!this.#isDone()) {
        if (this.#chunkLeft <= 0) {
          // Skip the CRLF that ends the previous chunk's data (chunkLeft 0 = data read).
          if (this.#chunkLeft === 0) {
            if (this.#buf.length < 2) return;
            this.#buf = this.#buf.subarray(2);
            this.#chunkLeft = -1;
          }
          const eol = this.#buf.indexOf("\r\n");
          if (eol === -1) return;
          const size = parseInt(
            this.#buf.subarray(0, eol).toString("latin1").split(";")[0] ?? "",
            16,
          );
          if (Number.isNaN(size)) throw new Error("malformed chunked encoding");
          this.#buf = this.#buf.subarray(eol + 2);
          if (size === 0) {
            this.done = true;
            return;
          }
          this.#chunkLeft = size;
        }
        const n = Math.min(this.#chunkLeft, this.#buf.length);
        if (n === 0) return;
        this.#take(this.#buf.subarray(0, n));
        this.#buf = this.#buf.subarray(n);
        this.#chunkLeft -= n;
      }
    }
  }
}

/** Strips CR/LF so a header value cannot inject lines. */
function headerValue(v: string): string {
  return v.replace(/[\r\n]/g, "");
}

/** What one GET sends where; derived from the URL and headers only. */
interface RequestPlan {
  isHttps: boolean;
  port: number;
  host: string;
  addr: string;
  getText: string;
  head: string;
}

/**
 * Plans by URL object: a probe worker reuses its URL and header list for every run, so the
 * request text is built once per worker rather than once per probe.
 */
const PLANS = new WeakMap<URL, { headers: [string, string][]; plan: RequestPlan }>();

function requestPlan(url: URL, headers: [string, string][]): RequestPlan {
  const cached = PLANS.get(url);
  if (cached?.headers === headers) return cached.plan;
  const isHttps = url.protocol === "https:";
  const port = Number(url.port !== "" ? url.port : isHttps ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addr = joinHostPort(host, port);
  const getText = `Get ${JSON.stringify(url.href)}`;
  let hostHeader = url.host;
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\n`;
  let extra = "";
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    if (key === "host") {
      hostHeader = headerValue(value);
      continue;
    }
    if (key === "connection") continue;
    extra += `${headerValue(name)}: ${headerValue(value)}\r\n`;
  }
  head += `Host: ${hostHeader}\r\n${extra}Connection: close\r\n\r\n`;
  const plan = { isHttps, port, host, addr, getText, head };
  PLANS.set(url, { headers, plan });
  return plan;
}

/**
 * One GET over a fresh connection (`Connection: close`), written directly on a net/tls socket:
 * far cheaper per probe than node:http, which matters at hundreds of probes per second.
 */
function oneRequest(
  url: URL,
  headers: [string, string][],
  dl: Deadline,
): Promise<HttpGetResponse & { location?: string }> {
  const { isHttps, port, host, addr, getText, head } = requestPlan(url, headers);

  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    const parser = new ResponseParser();
    const sock: net.Socket = isHttps
      ? tls.connect({
          host,
          port,
          rejectUnauthorized: false,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
        })
      : net.connect({ host, port });
    const cleanup = (): void => {
      dl.listener = undefined;
      sock.destroy();
    };
    const finish = (): void => {
      if (settled) return;
      settled = true;
      dl.listener = undefined;
      // Let the server close first (it was asked to: Connection: close) so the TIME_WAIT
      // state lands on its side; many client-side TIME_WAIT sockets make every connect()
      // slower. A server that keeps the connection open is cut after one idle second.
      if (sock.readableEnded) sock.destroy();
      else {
        sock.once("end", () => sock.destroy());
        // On the prober's wheel when there is one: no per-socket timer. Destroying a socket
        // that closed in the meantime is a no-op.
        if (dl.timers !== undefined) {
          dl.timers.schedule(dl.clock.now() + CLOSE_GRACE_MS, () => sock.destroy());
        } else sock.setTimeout(CLOSE_GRACE_MS, () => sock.destroy());
      }
      const h = parser.head;
      if (h === undefined) {
        reject(new HttpGetError(`${getText}: EOF`));
        return;
      }
      const out: HttpGetResponse & { location?: string } = {
        statusCode: h.statusCode,
        body: parser.body.toString("utf8"),
        url,
      };
      const loc = h.headers.get("location");
      if (loc !== undefined) out.location = loc;
      resolve(out);
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      const local =
        sock.localAddress === undefined ? "" : joinHostPort(sock.localAddress, sock.localPort ?? 0);
      cleanup();
      if (dl.expired) {
        const phase = !connected
          ? `dial tcp ${addr}: i/o timeout (Client.Timeout exceeded while awaiting headers)`
          : parser.head !== undefined
            ? "context deadline exceeded (Client.Timeout exceeded while reading body)"
            : "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
        reject(new HttpGetError(`${getText}: ${phase}`));
        return;
      }
      if (dl.aborted) {
        reject(new HttpGetError(`${getText}: context canceled`));
        return;
      }
      const code = errCode(err);
      const msg = err instanceof Error ? err.message : String(err);
      if (
        isHttps &&
        (code === "EPROTO" ||
          code === "ERR_SSL_WRONG_VERSION_NUMBER" ||
          /wrong version number|packet length too long/i.test(msg))
      ) {
        reject(
          new HttpGetError(`${getText}: http: server gave HTTP response to HTTPS client`, true),
        );
        return;
      }
      if (!connected) {
        reject(new HttpGetError(`${getText}: ${dialErrorText(addr, err)}`));
        return;
      }
      if (msg.startsWith("malformed")) {
        reject(
          new HttpGetError(`${getText}: net/http: HTTP/1.x transport connection broken: ${msg}`),
        );
        return;
      }
      reject(new HttpGetError(`${getText}: ${readErrorText(local, addr, err)}`));
    };
    const onAbort = (): void => {
      fail(SETTLED);
    };
    if (dl.aborted) {
      onAbort();
      return;
    }
    dl.listener = onAbort;
    sock.once(isHttps ? "secureConnect" : "connect", () => {
      connected = true;
      sock.write(head);
    });
    sock.on("data", (chunk: Buffer) => {
      try {
        parser.push(chunk);
      } catch (err) {
        fail(err);
        return;
      }
      if (parser.done) finish();
    });
    sock.once("end", () => {
      parser.end();
      if (parser.done || parser.head === undefined) finish();
      else fail(new Error("unexpected EOF"));
    });
    sock.once("error", fail);
  });
}
