import * as http2 from "node:http2";
import * as net from "node:net";
import type { Container, HTTPGetAction, IntOrString, Pod, Probe } from "../../api/index.js";
import type { ContainerId, ExecResult } from "../../runtime/index.js";
import type { Clock } from "../../util/index.js";
import { expandVars, goQuote } from "../env.js";
import { httpGet, HttpGetError, MAX_BODY_BYTES } from "./http.js";
import { dialErrorText, joinHostPort } from "./net-errors.js";
import type { TimerScheduler } from "./timer-wheel.js";

/**
 * Reason used to cancel internal timers once a request settled; shared so that cancelling
 * does not build a DOMException (with a stack) per probe.
 */
const SETTLED = new Error("probe settled");

/** The part of the runtime the prober and hooks use. */
export interface ProbeExec {
  /** Runs argv in the container; `timedOut` when `timeoutMs` elapsed first. */
  execSync(id: ContainerId, argv: string[], timeoutMs: number): Promise<ExecResult>;
}

/** Kubernetes version reported in User-Agent headers. */
export const KUBE_VERSION = "1.33";

/** Raw outcome of one probe run (upstream `probe.Result`). */
export type RawProbeResult = "success" | "warning" | "failure" | "unknown";

/** Everything one probe run needs. */
export interface ProbeContext {
  pod: Pod;
  container: Container;
  containerId: ContainerId;
  podIP: string | undefined;
  exec: ProbeExec;
  clock: Clock;
  /** Where probe deadlines are scheduled (the prober's timer wheel); default: clock sleeps. */
  timers?: TimerScheduler;
  signal?: AbortSignal;
}

/** A probe that could not be run at all (PL-PROBE-7); the result is thrown away. */
export class ProbeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProbeError";
  }
}

/**
 * Resolves a probe/hook port: numbers as-is, numeric strings parsed, names against the
 * container's `ports[].name` (PL-PROBE-10). Throws ProbeError for unknown names.
 */
export function resolvePort(port: IntOrString, container: Container): number {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  const found = (container.ports ?? []).find((p) => p.name === port);
  if (found === undefined) throw new ProbeError(`couldn't find port: ${port} in ${container.name}`);
  return found.containerPort;
}

/** The URL of an httpGet action (upstream `formatURL`). */
export function httpGetURL(action: HTTPGetAction, container: Container, podIP: string): URL {
  const scheme = (action.scheme ?? "HTTP").toLowerCase();
  const host = action.host !== undefined && action.host !== "" ? action.host : podIP;
  const port = resolvePort(action.port, container);
  let p = action.path ?? "";
  if (p !== "" && !p.startsWith("/")) p = "/" + p;
  return new URL(`${scheme}://${joinHostPort(host, port)}${p}`);
}

/**
 * Request headers of an httpGet action (upstream `NewRequestForHTTPGetAction`): the user's
 * headers, plus `User-Agent: kube-<userAgent>/<ver>` and `Accept: *\/*` unless given; an
 * explicitly empty Accept removes it.
 */
export function httpGetHeaders(
  action: HTTPGetAction,
  userAgent: "probe" | "lifecycle",
): [string, string][] {
  const out: [string, string][] = [];
  let hasUA = false;
  let hasAccept = false;
  for (const h of action.httpHeaders ?? []) {
    const name = h.name.toLowerCase();
    if (name === "user-agent") hasUA = true;
    if (name === "accept") {
      hasAccept = true;
      if (h.value === "") continue;
    }
    out.push([h.name, h.value]);
  }
  if (!hasUA) out.push(["User-Agent", `kube-${userAgent}/${KUBE_VERSION}`]);
  if (!hasAccept) out.push(["Accept", "*/*"]);
  return out;
}

/** Runs one probe attempt. Returns the raw result and output; throws ProbeError when it cannot run. */
export async function runProbe(
  probe: Probe,
  ctx: ProbeContext,
): Promise<{ result: RawProbeResult; output: string }> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.exec !== undefined) return runExecProbe(probe.exec.command ?? [], timeoutMs, ctx);
  if (probe.httpGet !== undefined) return runHttpProbe(probe.httpGet, timeoutMs, ctx);
  if (probe.tcpSocket !== undefined) {
    const host =
      probe.tcpSocket.host !== undefined && probe.tcpSocket.host !== ""
        ? probe.tcpSocket.host
        : ctx.podIP;
    if (host === undefined) throw new ProbeError("pod has no IP yet");
    return runTcpProbe(
      host,
      resolvePort(probe.tcpSocket.port, ctx.container),
      timeoutMs,
      ctx.clock,
    );
  }
  if (probe.grpc !== undefined) {
    if (ctx.podIP === undefined) throw new ProbeError("pod has no IP yet");
    return runGrpcProbe(ctx.podIP, probe.grpc.port, probe.grpc.service ?? "", timeoutMs, ctx.clock);
  }
  throw new ProbeError("missing probe handler");
}

/** exec probe (PL-PROBE-9): `$(VAR)` from literal env values only, combined output capped. */
async function runExecProbe(
  command: string[],
  timeoutMs: number,
  ctx: ProbeContext,
): Promise<{ result: RawProbeResult; output: string }> {
  // Upstream maps every env entry to its literal value; valueFrom entries count as "".
  const vars = new Map((ctx.container.env ?? []).map((e) => [e.name, e.value ?? ""]));
  const argv = command.map((c) => expandVars(c, vars));
  let res: ExecResult;
  try {
    res = await ctx.exec.execSync(ctx.containerId, argv, timeoutMs);
  } catch (err) {
    throw new ProbeError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  if (res.timedOut) {
    return { result: "failure", output: `command ${goQuote(argv.join(" "))} timed out` };
  }
  const output = Buffer.concat([res.stdout, res.stderr])
    .subarray(0, MAX_BODY_BYTES)
    .toString("utf8");
  return { result: res.exitCode === 0 ? "success" : "failure", output };
}

/**
 * URL and headers of an httpGet probe by action object: the same pod object (and so the same
 * action) is probed every period, and reusing them lets http.ts reuse the request text.
 */
const HTTP_TARGETS = new WeakMap<
  HTTPGetAction,
  { host: string; container: Container; url: URL; headers: [string, string][] }
>();

/** httpGet probe (PL-PROBE-10/11). */
async function runHttpProbe(
  action: HTTPGetAction,
  timeoutMs: number,
  ctx: ProbeContext,
): Promise<{ result: RawProbeResult; output: string }> {
  const host = action.host !== undefined && action.host !== "" ? action.host : ctx.podIP;
  if (host === undefined) throw new ProbeError("pod has no IP yet");
  let target = HTTP_TARGETS.get(action);
  if (target?.host !== host || target.container !== ctx.container) {
    target = {
      host,
      container: ctx.container,
      url: httpGetURL(action, ctx.container, host),
      headers: httpGetHeaders(action, "probe"),
    };
    HTTP_TARGETS.set(action, target);
  }
  try {
    const res = await httpGet({
      url: target.url,
      headers: target.headers,
      timeoutMs,
      followNonLocalRedirects: false,
      clock: ctx.clock,
      ...(ctx.timers === undefined ? {} : { timers: ctx.timers }),
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    });
    if (res.statusCode >= 200 && res.statusCode < 400) {
      if (res.statusCode >= 300) {
        return {
          result: "warning",
          output: `Probe terminated redirects, Response body: ${res.body}`,
        };
      }
      return { result: "success", output: res.body };
    }
    return { result: "failure", output: `HTTP probe failed with statuscode: ${res.statusCode}` };
  } catch (err) {
    if (err instanceof HttpGetError) return { result: "failure", output: err.message };
    throw err;
  }
}

/** tcpSocket probe (PL-PROBE-12): connect within the timeout, then close. */
export function runTcpProbe(
  host: string,
  port: number,
  timeoutMs: number,
  clock: Clock,
): Promise<{ result: RawProbeResult; output: string }> {
  const addr = joinHostPort(host, port);
  return new Promise((resolve) => {
    const stop = new AbortController();
    let settled = false;
    const done = (r: { result: RawProbeResult; output: string }): void => {
      if (settled) return;
      settled = true;
      stop.abort(SETTLED);
      sock.destroy();
      resolve(r);
    };
    const sock = net.connect({ host, port });
    sock.once("connect", () => {
      done({ result: "success", output: "" });
    });
    sock.once("error", (err) => {
      done({ result: "failure", output: dialErrorText(addr, err) });
    });
    clock.sleep(timeoutMs, stop.signal).then(
      () => {
        done({ result: "failure", output: `dial tcp ${addr}: i/o timeout` });
      },
      // Rejected only when the connection settled first and stopped the timer.
      () => undefined,
    );
  });
}

const GRPC_CODES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];
const SERVING_STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** A protobuf `HealthCheckRequest{service}` in a gRPC length-prefixed frame. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const svc = Buffer.from(service, "utf8");
  const body =
    svc.length === 0
      ? Buffer.alloc(0)
      : Buffer.concat([Buffer.from([0x0a]), varint(svc.length), svc]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** The `status` field of a framed `HealthCheckResponse` (0 = UNKNOWN when absent). */
export function decodeHealthCheckResponse(frame: Buffer): number {
  if (frame.length < 5) return 0;
  const len = frame.readUInt32BE(1);
  const msg = frame.subarray(5, 5 + len);
  let i = 0;
  let status = 0;
  while (i < msg.length) {
    const key = msg[i++] ?? 0;
    const wire = key & 7;
    let v = 0;
    let shift = 0;
    if (wire === 0) {
      for (;;) {
        const b = msg[i++] ?? 0;
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0 || i >= msg.length) break;
      }
      if (key >> 3 === 1) status = v;
    } else if (wire === 2) {
      let l = 0;
      for (;;) {
        const b = msg[i++] ?? 0;
        l += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0 || i >= msg.length) break;
      }
      i += l;
    } else {
      break;
    }
  }
  return status;
}

/** grpc probe (PL-PROBE-13): grpc.health.v1.Health/Check over plaintext HTTP/2. */
export function runGrpcProbe(
  host: string,
  port: number,
  service: string,
  timeoutMs: number,
  clock: Clock,
): Promise<{ result: RawProbeResult; output: string }> {
  const addr = joinHostPort(host, port);
  const secs = `${timeoutMs / 1000}s`;
  return new Promise((resolve) => {
    const stop = new AbortController();
    let settled = false;
    let connected = false;
    const session = http2.connect(`http://${addr}`);
    const done = (r: { result: RawProbeResult; output: string }): void => {
      if (settled) return;
      settled = true;
      stop.abort(SETTLED);
      session.destroy();
      resolve(r);
    };
    const connectTimeout = (): void => {
      done({
        result: "failure",
        output: `timeout: failed to connect service ${goQuote(addr)} within ${secs}: context deadline exceeded`,
      });
    };
    clock.sleep(timeoutMs, stop.signal).then(
      () => {
        if (!connected) connectTimeout();
        else
          done({
            result: "failure",
            output: `timeout: health rpc did not complete within ${secs}`,
          });
      },
      // Rejected only when the probe settled first and stopped the timer.
      () => undefined,
    );
    // gRPC's blocking dial keeps retrying a refused connection until the deadline, so any
    // connect error ends as the connect timeout.
    session.on("error", () => {
      if (!connected) connectTimeout();
      else
        done({
          result: "failure",
          output: `error: health rpc probe failed: rpc error: code = Unavailable desc = connection error`,
        });
    });
    session.on("connect", () => {
      connected = true;
      const req = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Check",
        "content-type": "application/grpc",
        te: "trailers",
        "user-agent": `kube-probe/${KUBE_VERSION}`,
      });
      const chunks: Buffer[] = [];
      let grpcStatus: string | undefined;
      let grpcMessage = "";
      const takeStatus = (h: http2.IncomingHttpHeaders): void => {
        const s = h["grpc-status"];
        if (typeof s === "string") grpcStatus = s;
        const m = h["grpc-message"];
        if (typeof m === "string") grpcMessage = decodeURIComponent(m);
      };
      req.on("response", takeStatus);
      req.on("trailers", takeStatus);
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", (err: Error) => {
        done({ result: "failure", output: `error: health rpc probe failed: ${err.message}` });
      });
      req.on("end", () => {
        const code = Number(grpcStatus ?? "2");
        if (code !== 0) {
          const name = GRPC_CODES[code] ?? `Code(${code})`;
          if (name === "Unimplemented") {
            done({
              result: "failure",
              output: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${grpcMessage}`,
            });
          } else if (name === "DeadlineExceeded") {
            done({
              result: "failure",
              output: `timeout: health rpc did not complete within ${secs}`,
            });
          } else {
            done({
              result: "failure",
              output: `error: health rpc probe failed: rpc error: code = ${name} desc = ${grpcMessage}`,
            });
          }
          return;
        }
        const status = decodeHealthCheckResponse(Buffer.concat(chunks));
        if (status === 1) done({ result: "success", output: "service is healthy" });
        else
          done({
            result: "failure",
            output: `service unhealthy (responded with ${goQuote(SERVING_STATUS[status] ?? String(status))})`,
          });
      });
      req.end(encodeHealthCheckRequest(service));
    });
  });
}
