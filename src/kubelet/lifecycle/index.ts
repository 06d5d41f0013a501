import type { Container, HTTPGetAction, LifecycleHandler, Pod } from "../../api/index.js";
import type { ContainerId } from "../../runtime/index.js";
import { isAbortError, type Clock } from "../../util/index.js";
import { podDesc } from "../dns.js";
import { goQuote } from "../env.js";
import {
  httpGet,
  HttpGetError,
  httpGetHeaders,
  httpGetURL,
  type EventRecorder,
  type ProbeExec,
} from "../prober/index.js";

/** Context of one hook run. */
export interface HookContext {
  pod: Pod;
  container: Container;
  containerId: ContainerId;
  /** Pod IP for httpGet handlers without `host`. */
  podIP?: string;
  exec: ProbeExec;
  clock: Clock;
  /** Aborting cuts the hook short (grace period over, container gone); the hook then fails. */
  signal: AbortSignal;
  recorder: EventRecorder;
}

/** Outcome of a hook: ok, or the PL-HOOK-4 message (PostStartHookError message for postStart). */
export type HookResult = { ok: true } | { ok: false; message: string };

/**
 * Exec hooks have no timeout of their own (upstream passes 0); this is the largest delay a
 * Node timer accepts, so a runtime that arms a timer with it never fires early.
 */
const NO_TIMEOUT_MS = 2 ** 31 - 1;

/** Go's `%v` of an IntOrString (`{0 8080 }`, `{1 0 http}`). */
function intOrStringV(v: number | string): string {
  return typeof v === "number" ? `{0 ${v} }` : `{1 0 ${v}}`;
}

/** Go's `%v` of the handler, as upstream prints it for invalid handlers. */
function handlerV(h: LifecycleHandler): string {
  const tcp =
    h.tcpSocket === undefined
      ? "nil"
      : `&TCPSocketAction{Port:${intOrStringV(h.tcpSocket.port)},Host:${h.tcpSocket.host ?? ""},}`;
  return `&LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:${tcp},Sleep:nil,}`;
}

/**
 * Runs a postStart or preStop handler (PL-HOOK-1..6) and reports the outcome with the PL-HOOK-4
 * message; it never throws for handler failures. The caller records `FailedPostStartHook` /
 * `FailedPreStopHook` (PL-HOOK-3/6) and bounds preStop by the grace period through `signal`.
 * An HTTPS hook answered in plain HTTP is retried over HTTP and records Warning
 * `LifecycleHTTPFallback` itself. `kind` is informational (both kinds run the same way).
 */
export async function runLifecycleHandler(
  kind: "postStart" | "preStop",
  handler: LifecycleHandler,
  ctx: HookContext,
): Promise<HookResult> {
  return runHandler(handler, ctx);
}

async function runHandler(handler: LifecycleHandler, ctx: HookContext): Promise<HookResult> {
  const { pod, container } = ctx;
  const where = `for Container ${goQuote(container.name)} in Pod ${goQuote(podDesc(pod))}`;
  if (handler.exec !== undefined) {
    const cmd = handler.exec.command ?? [];
    let errText: string;
    let output = "";
    try {
      const res = await ctx.exec.execSync(ctx.containerId, cmd, NO_TIMEOUT_MS);
      output = Buffer.concat([res.stdout, res.stderr]).toString("utf8");
      if (res.exitCode === 0 && !res.timedOut) return { ok: true };
      // The CRI client's CodeExitError text.
      errText = `command '${cmd.join(" ")}' exited with ${res.exitCode}: ${res.stderr.toString("utf8")}`;
    } catch (err) {
      errText = err instanceof Error ? err.message : String(err);
    }
    return {
      ok: false,
      message: `Exec lifecycle hook ([${cmd.join(" ")}]) ${where} failed - error: ${errText}, message: ${goQuote(output)}`,
    };
  }
  if (handler.httpGet !== undefined) {
    const action = handler.httpGet;
    try {
      await runHttpHook(action, ctx);
      return { ok: true };
    } catch (err) {
      const errText = err instanceof Error ? err.message : String(err);
      return {
        ok: false,
        message: `HTTP lifecycle hook (${action.path ?? ""}) ${where} failed - error: ${errText}`,
      };
    }
  }
  if (handler.sleep !== undefined) {
    const seconds = handler.sleep.seconds;
    try {
      await ctx.clock.sleep(seconds * 1000, ctx.signal);
      return { ok: true };
    } catch (err) {
      if (!isAbortError(err) && !ctx.signal.aborted) throw err;
      return {
        ok: false,
        message: `Sleep lifecycle hook (${seconds}) ${where} failed - error: container terminated before sleep hook finished`,
      };
    }
  }
  return { ok: false, message: `Cannot run handler: invalid handler: ${handlerV(handler)}` };
}

/** httpGet hook (PL-HOOK-1/5): only transport errors fail; HTTPS answered in HTTP falls back. */
async function runHttpHook(action: HTTPGetAction, ctx: HookContext): Promise<void> {
  const host = action.host !== undefined && action.host !== "" ? action.host : ctx.podIP;
  if (host === undefined || host === "")
    throw new Error("failed to find networking container: no pod IP");
  const url = httpGetURL(action, ctx.container, host);
  const headers = httpGetHeaders(action, "lifecycle");
  const base = { followNonLocalRedirects: true, clock: ctx.clock, signal: ctx.signal };
  try {
    await httpGet({ url, headers, ...base });
  } catch (err) {
    if (!(err instanceof HttpGetError) || !err.httpResponseToHttps) throw err;
    const plain = new URL(url.href);
    plain.protocol = "http:";
    try {
      await httpGet({
        url: plain,
        headers: headers.filter(([name]) => name.toLowerCase() !== "authorization"),
        ...base,
      });
    } catch (fallbackErr) {
      // Upstream reports the original HTTPS error when the fallback fails too.
      throw new Error(err.message, { cause: fallbackErr });
    }
    ctx.recorder.event(
      ctx.pod,
      undefined,
      "Warning",
      "LifecycleHTTPFallback",
      `request to HTTPS lifecycle hook ${plain.host} got HTTP response, retry with HTTP succeeded`,
    );
  }
}
