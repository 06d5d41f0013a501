import type { FieldError, KubeObject, Pod } from "../api/index.js";
import type { Store } from "../storage/index.js";
import type { Clock, Logger } from "../util/index.js";
import type { MetricsProvider, PrometheusSource } from "./metrics/types.js";
import type { Authorizer } from "./rbac/types.js";

/** `fieldValidation` query parameter (KA-CREATE-3). */
export type FieldValidationMode = "Strict" | "Warn" | "Ignore";

/** Options passed to {@link Admission.validate}. */
export interface ValidateOptions {
  /** The subresource being written (`status`, `ephemeralcontainers`), if any. */
  subresource?: string;
  /** How unknown or duplicate fields are treated. */
  fieldValidation: FieldValidationMode;
}

/**
 * Defaulting and validation hooks, injected so that `cmd/` wires the `api/` implementations
 * (`applyDefaults`, `validateObject`). Called synchronously on every write, never
 * concurrently for the same object. `validate` returns field errors (the server throws
 * Invalid with them) and may throw an ApiError itself (BadRequest for strict decoding).
 */
export interface Admission {
  /** Fills defaults in place. */
  default(kind: string, group: string, obj: KubeObject): void;
  /** Returns every validation problem of `obj` (`old` is undefined on create). */
  validate(
    kind: string,
    group: string,
    obj: KubeObject,
    old: KubeObject | undefined,
    opts: ValidateOptions,
  ): FieldError[];
}

/** Admission that changes nothing and accepts everything (tests, early wiring). */
export const noAdmission: Admission = {
  default: () => undefined,
  validate: () => [],
};

/** Query options of `pods/log` (core/v1 PodLogOptions). */
export interface PodLogOptions {
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: string;
  limitBytes?: number;
}

/**
 * Reaches the node that runs a pod (the kubelet), for logs. Implementations may be called
 * concurrently. The returned stream ends when the log ends (or, with `follow`, when the
 * container stops or `signal` aborts). Errors are ApiErrors (BadRequest with upstream
 * wording, e.g. `container "c1" in pod "web" is waiting to start: ContainerCreating`).
 */
export interface NodeConnector {
  logs(pod: Pod, opts: PodLogOptions, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
}

/** Options of {@link ApiServer}. */
export interface ApiServerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Defaulting and validation. @default noAdmission */
  admission?: Admission;
  /** Log access to nodes; without it `pods/log` answers 503. @default undefined */
  nodeConnector?: NodeConnector;
  /** Interval of BOOKMARK events on watches with `allowWatchBookmarks`. @default 60_000 */
  bookmarkIntervalMs?: number;
  /** How often the namespace finalizer re-checks a namespace that still has content. @default 1_000 */
  namespaceRetryMs?: number;
  /** ClusterIP of the `kubernetes` Service. @default "10.96.0.1" */
  kubernetesServiceIP?: string;
  /** Port the `kubernetes` Service targets (the apiserver's secure port). @default 6443 */
  securePort?: number;
  /** Server address in legacy discovery (`serverAddressByClientCIDRs`). @default "127.0.0.1:6443" */
  serverAddress?: string;
  /**
   * PEM RSA private key that signs service-account tokens (`serviceaccounts/<name>/token`);
   * without it that subresource answers 404 and pods get no token volume injected.
   * @default undefined
   */
  serviceAccountKeyPem?: string;
  /**
   * Usage figures behind `metrics.k8s.io/v1beta1` (`kubectl top`); without it the group is
   * neither served nor in discovery, as upstream without metrics-server. @default undefined
   */
  metricsProvider?: MetricsProvider;
  /** More families for `GET /metrics` (e.g. the kubelet's). @default [] */
  prometheusSources?: readonly PrometheusSource[];
  /**
   * Answers SelfSubjectAccessReviews (`kubectl auth can-i`); without it they are refused
   * with 405. Requests themselves are authorized by the HTTP adapter. @default undefined
   */
  authorizer?: Authorizer;
}

/** {@link ApiServerOptions} with every default applied. */
export interface ResolvedApiServerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  admission: Admission;
  nodeConnector: NodeConnector | undefined;
  bookmarkIntervalMs: number;
  namespaceRetryMs: number;
  kubernetesServiceIP: string;
  securePort: number;
  serverAddress: string;
  serviceAccountKeyPem: string | undefined;
  metricsProvider: MetricsProvider | undefined;
  prometheusSources: readonly PrometheusSource[];
  authorizer: Authorizer | undefined;
}

/** Applies the defaults of {@link ApiServerOptions} and checks the values. */
export function resolveApiServerOptions(o: ApiServerOptions): ResolvedApiServerOptions {
  const r: ResolvedApiServerOptions = {
    store: o.store,
    clock: o.clock,
    logger: o.logger,
    admission: o.admission ?? noAdmission,
    nodeConnector: o.nodeConnector,
    bookmarkIntervalMs: o.bookmarkIntervalMs ?? 60_000,
    namespaceRetryMs: o.namespaceRetryMs ?? 1_000,
    kubernetesServiceIP: o.kubernetesServiceIP ?? "10.96.0.1",
    securePort: o.securePort ?? 6443,
    serverAddress: o.serverAddress ?? "127.0.0.1:6443",
    serviceAccountKeyPem: o.serviceAccountKeyPem,
    metricsProvider: o.metricsProvider,
    prometheusSources: o.prometheusSources ?? [],
    authorizer: o.authorizer,
  };
  if (!(r.bookmarkIntervalMs > 0)) {
    throw new RangeError(`bookmarkIntervalMs must be > 0, got ${r.bookmarkIntervalMs}`);
  }
  if (!(r.namespaceRetryMs > 0)) {
    throw new RangeError(`namespaceRetryMs must be > 0, got ${r.namespaceRetryMs}`);
  }
  if (!Number.isInteger(r.securePort) || r.securePort < 1 || r.securePort > 65535) {
    throw new RangeError(`securePort must be a port number, got ${r.securePort}`);
  }
  return r;
}
