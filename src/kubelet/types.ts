import type {
  CallOptions,
  ConfigMap,
  Event,
  Lease,
  Node,
  Pod,
  Secret,
  Service,
  TokenRequest,
} from "../api/index.js";
import type { ResourceClient } from "../client/index.js";

/**
 * The part of the API client the kubelet uses. `undefined` namespace = all namespaces (list
 * and watch only). The real `Client` from client/ satisfies it; tests use FakeKubeletClient.
 */
export interface KubeletClient {
  pods(ns?: string): ResourceClient<Pod>;
  nodes(): ResourceClient<Node>;
  leases(ns?: string): ResourceClient<Lease>;
  events(ns?: string): ResourceClient<Event>;
  configMaps(ns?: string): ResourceClient<ConfigMap>;
  secrets(ns?: string): ResourceClient<Secret>;
  services(ns?: string): ResourceClient<Service>;
  /**
   * TokenRequest for a pod's projected service-account token (`serviceaccounts/<name>/token`).
   * Optional: without it projected token files are skipped.
   */
  serviceAccountToken?(
    ns: string,
    name: string,
    req: TokenRequest,
    opts?: CallOptions,
  ): Promise<TokenRequest>;
}

/** Where the kubelet sends events (client/'s EventRecorder satisfies it). Never throws. */
export interface EventSink {
  event(
    obj: Pod,
    fieldPath: string | undefined,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): void;
}

/** Formats a duration like Go's `time.Duration.String()` (`10s`, `1m20s`, `1.234s`, `5m0s`). */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? "-" : ""}${String(rest)}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  const sec = Number.isInteger(s) ? String(s) : s.toFixed(3).replace(/0+$/, "");
  let out = "";
  if (h > 0) out += `${String(h)}h`;
  if (h > 0 || m > 0) out += `${String(m)}m`;
  out += `${sec}s`;
  return (neg ? "-" : "") + out;
}

/**
 * Reads `signal.aborted` through a call, so checks after an `await` are not narrowed away
 * by the type checker (the flag may have flipped while waiting).
 */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
