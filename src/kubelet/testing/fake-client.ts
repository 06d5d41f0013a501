import {
  alreadyExists,
  conflict,
  notFound,
  rfc3339,
  type ConfigMap,
  type DeleteOptions,
  type Event,
  type KubeList,
  type KubeObject,
  type Lease,
  type Node,
  type Pod,
  type Secret,
  type Service,
  type WatchEvent,
} from "../../api/index.js";
import type { ListOptions, PatchType, ResourceClient } from "../../client/index.js";
import type { KubeletClient } from "../types.js";

interface Shared {
  rv: number;
}

/** One recorded write on a fake resource. */
export interface FakeWrite {
  verb: "create" | "update" | "updateStatus" | "patch" | "delete";
  namespace: string | undefined;
  name: string;
  body: unknown;
}

/**
 * An in-memory ResourceClient: objects keyed by namespace/name, a shared resourceVersion
 * counter, watches fed from writes (with `fieldSelector` support for `spec.nodeName=` and
 * `metadata.name=`), UID preconditions on delete, and a record of every write.
 */
export class FakeResource<T extends KubeObject> implements ResourceClient<T> {
  readonly #store: Map<string, T>;
  readonly #resource: string;
  readonly #ns: string | undefined;
  readonly #shared: Shared;
  readonly #watchers: Set<(ev: WatchEvent<T>) => void>;
  readonly writes: FakeWrite[];

  constructor(
    resource: string,
    ns: string | undefined,
    state: {
      store: Map<string, T>;
      shared: Shared;
      watchers: Set<(ev: WatchEvent<T>) => void>;
      writes: FakeWrite[];
    },
  ) {
    this.#resource = resource;
    this.#ns = ns;
    this.#store = state.store;
    this.#shared = state.shared;
    this.#watchers = state.watchers;
    this.writes = state.writes;
  }

  #key(ns: string | undefined, name: string): string {
    return `${ns ?? ""}/${name}`;
  }

  #bump(obj: T): T {
    this.#shared.rv++;
    obj.metadata.resourceVersion = String(this.#shared.rv);
    return obj;
  }

  #emit(type: WatchEvent["type"], obj: T): void {
    for (const w of this.#watchers) w({ type, object: structuredClone(obj) });
  }

  get(name: string): Promise<T> {
    const o = this.#store.get(this.#key(this.#ns, name));
    if (o === undefined) return Promise.reject(notFound(this.#resource, name));
    return Promise.resolve(structuredClone(o));
  }

  list(opts?: ListOptions): Promise<KubeList<T>> {
    const items = [...this.#store.values()]
      .filter((o) => this.#ns === undefined || o.metadata.namespace === this.#ns)
      .filter((o) => matchesFields(o, opts?.fieldSelector))
      .map((o) => structuredClone(o));
    return Promise.resolve({
      apiVersion: "v1",
      kind: "List",
      metadata: { resourceVersion: String(this.#shared.rv) },
      items,
    });
  }

  create(obj: T): Promise<T> {
    const ns = obj.metadata.namespace ?? this.#ns;
    const name = obj.metadata.name ?? "";
    const key = this.#key(ns, name);
    if (this.#store.has(key)) return Promise.reject(alreadyExists(this.#resource, name));
    const o = structuredClone(obj);
    if (ns !== undefined) o.metadata.namespace = ns;
    o.metadata.uid ??= `uid-${name}-${String(this.#shared.rv + 1)}`;
    o.metadata.creationTimestamp ??= rfc3339(Date.UTC(2025, 0, 1));
    this.#bump(o);
    this.#store.set(key, o);
    this.writes.push({ verb: "create", namespace: ns, name, body: structuredClone(o) });
    this.#emit("ADDED", o);
    return Promise.resolve(structuredClone(o));
  }

  #replace(obj: T, verb: "update" | "updateStatus"): Promise<T> {
    const ns = obj.metadata.namespace ?? this.#ns;
    const name = obj.metadata.name ?? "";
    const cur = this.#store.get(this.#key(ns, name));
    if (cur === undefined) return Promise.reject(notFound(this.#resource, name));
    if (
      obj.metadata.resourceVersion !== undefined &&
      obj.metadata.resourceVersion !== cur.metadata.resourceVersion
    )
      return Promise.reject(conflict(this.#resource, name));
    let next: T;
    if (verb === "updateStatus") {
      next = structuredClone(cur);
      (next as unknown as { status?: unknown }).status = structuredClone(
        (obj as unknown as { status?: unknown }).status,
      );
    } else {
      next = structuredClone(obj);
      const status = (cur as unknown as { status?: unknown }).status;
      if (status !== undefined) (next as unknown as { status?: unknown }).status = status;
    }
    this.#bump(next);
    this.#store.set(this.#key(ns, name), next);
    this.writes.push({ verb, namespace: ns, name, body: structuredClone(next) });
    this.#emit("MODIFIED", next);
    return Promise.resolve(structuredClone(next));
  }

  update(obj: T): Promise<T> {
    return this.#replace(obj, "update");
  }

  updateStatus(obj: T): Promise<T> {
    return this.#replace(obj, "updateStatus");
  }

  patch(name: string, type: PatchType, patch: unknown): Promise<T> {
    const cur = this.#store.get(this.#key(this.#ns, name));
    if (cur === undefined) return Promise.reject(notFound(this.#resource, name));
    const next = mergePatch(structuredClone(cur), patch) as T;
    this.#bump(next);
    this.#store.set(this.#key(this.#ns, name), next);
    this.writes.push({ verb: "patch", namespace: this.#ns, name, body: patch });
    this.#emit("MODIFIED", next);
    return Promise.resolve(structuredClone(next));
  }

  delete(name: string, opts?: DeleteOptions): Promise<T | undefined> {
    const key = this.#key(this.#ns, name);
    const cur = this.#store.get(key);
    if (cur === undefined) return Promise.reject(notFound(this.#resource, name));
    const uid = opts?.preconditions?.uid;
    if (uid !== undefined && uid !== cur.metadata.uid)
      return Promise.reject(
        conflict(this.#resource, name, `Precondition failed: UID in precondition: ${uid}`),
      );
    this.#store.delete(key);
    this.#bump(cur);
    this.writes.push({ verb: "delete", namespace: this.#ns, name, body: opts });
    this.#emit("DELETED", cur);
    return Promise.resolve(undefined);
  }

  async *watch(opts: ListOptions & { signal: AbortSignal }): AsyncIterable<WatchEvent<T>> {
    const queue: WatchEvent<T>[] = [];
    let wake: (() => void) | undefined;
    const push = (ev: WatchEvent<T>): void => {
      if (this.#ns !== undefined && ev.object.metadata.namespace !== this.#ns) return;
      if (!matchesFields(ev.object, opts.fieldSelector)) return;
      queue.push(ev);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.#watchers.add(push);
    opts.signal.addEventListener("abort", onAbort);
    try {
      while (!opts.signal.aborted) {
        const ev = queue.shift();
        if (ev !== undefined) {
          yield ev;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.#watchers.delete(push);
      opts.signal.removeEventListener("abort", onAbort);
    }
  }

  createSubresource(name: string, subresource: string): Promise<unknown> {
    return Promise.reject(new Error(`fake: subresource ${subresource} of ${name} not supported`));
  }
}

function matchesFields(obj: KubeObject, selector: string | undefined): boolean {
  if (selector === undefined || selector === "") return true;
  return selector.split(",").every((term) => {
    const [k, v] = term.split("=");
    if (k === "spec.nodeName")
      return (obj as unknown as { spec?: { nodeName?: string } }).spec?.nodeName === v;
    if (k === "metadata.name") return obj.metadata.name === v;
    if (k === "metadata.namespace") return obj.metadata.namespace === v;
    return true;
  });
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === "object" && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  const entries = Object.entries(patch as Record<string, unknown>);
  const kept = Object.entries(out).filter(
    ([k]) => !entries.some(([pk, pv]) => pk === k && pv === null),
  );
  const result: Record<string, unknown> = Object.fromEntries(kept);
  for (const [k, v] of entries) if (v !== null) result[k] = mergePatch(result[k], v);
  return result;
}

class Kind<T extends KubeObject> {
  readonly store = new Map<string, T>();
  readonly watchers = new Set<(ev: WatchEvent<T>) => void>();
  readonly writes: FakeWrite[] = [];
  readonly #resource: string;
  readonly #shared: Shared;
  constructor(resource: string, shared: Shared) {
    this.#resource = resource;
    this.#shared = shared;
  }
  client(ns?: string): FakeResource<T> {
    return new FakeResource<T>(this.#resource, ns, {
      store: this.store,
      shared: this.#shared,
      watchers: this.watchers,
      writes: this.writes,
    });
  }
}

/**
 * An in-memory KubeletClient for unit tests: pods, nodes, leases, events, configMaps, secrets
 * and services, each a FakeResource sharing one resourceVersion counter. `podWrites` etc.
 * expose the recorded writes.
 */
export class FakeKubeletClient implements KubeletClient {
  readonly #shared: Shared = { rv: 0 };
  readonly podKind = new Kind<Pod>("pods", this.#shared);
  readonly nodeKind = new Kind<Node>("nodes", this.#shared);
  readonly leaseKind = new Kind<Lease>("leases.coordination.k8s.io", this.#shared);
  readonly eventKind = new Kind<Event>("events", this.#shared);
  readonly configMapKind = new Kind<ConfigMap>("configmaps", this.#shared);
  readonly secretKind = new Kind<Secret>("secrets", this.#shared);
  readonly serviceKind = new Kind<Service>("services", this.#shared);

  pods(ns?: string): FakeResource<Pod> {
    return this.podKind.client(ns);
  }
  nodes(): FakeResource<Node> {
    return this.nodeKind.client(undefined);
  }
  leases(ns?: string): FakeResource<Lease> {
    return this.leaseKind.client(ns);
  }
  events(ns?: string): FakeResource<Event> {
    return this.eventKind.client(ns);
  }
  configMaps(ns?: string): FakeResource<ConfigMap> {
    return this.configMapKind.client(ns);
  }
  secrets(ns?: string): FakeResource<Secret> {
    return this.secretKind.client(ns);
  }
  services(ns?: string): FakeResource<Service> {
    return this.serviceKind.client(ns);
  }

  /** The stored pod (a copy), or undefined. */
  pod(ns: string, name: string): Pod | undefined {
    const p = this.podKind.store.get(`${ns}/${name}`);
    return p === undefined ? undefined : structuredClone(p);
  }
}

/** An EventSink that keeps events in memory as `reason: message` (and full records). */
export class FakeRecorder {
  readonly events: {
    fieldPath: string | undefined;
    type: "Normal" | "Warning";
    reason: string;
    message: string;
  }[] = [];

  event(
    _obj: Pod,
    fieldPath: string | undefined,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): void {
    this.events.push({ fieldPath, type, reason, message });
  }

  /** `reason: message` lines, in order. */
  lines(): string[] {
    return this.events.map((e) => `${e.reason}: ${e.message}`);
  }
}
