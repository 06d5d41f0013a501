import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  decodingError,
  findTypeError,
  findUnknownFields,
  invalid,
  isAlreadyExists,
  isConflict,
  isNotFound,
  notFound,
  rfc3339,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type ListMeta,
  type Pod,
  type ServiceAccount,
} from "../api/index.js";
import type { Store, Stored } from "../storage/index.js";
import type { Clock, Logger } from "../util/index.js";
import {
  clone,
  deepEqual,
  isRecord,
  keyFor,
  prefixFor,
  randomSuffix,
  served,
  listOfStored,
  servedStored,
  takePrivateBody,
} from "./objects.js";
import { applyPatch, serverSideApply, updateManagedFields } from "./patch/index.js";
import { findResource, qualifiedResource, type ResourceInfo } from "./resources.js";
import { injectServiceAccountToken } from "./sa-admission.js";
import { matchesFilter, type ObjectFilter } from "./selectors.js";
import { allocateServiceAddresses, keepServiceAddresses } from "./services.js";
import type { Admission, FieldValidationMode } from "./types.js";

/** Per-request write options (query parameters of create, update, patch, delete). */
export interface WriteContext {
  dryRun: boolean;
  fieldManager: string | undefined;
  fieldValidation: FieldValidationMode;
}

/** Result of a write that may create (PUT/apply to a missing object) or delete. */
export interface WriteResult {
  object: KubeObject;
  created: boolean;
}

/** Result of a delete: the object, and whether it is gone (false: graceful or finalizers). */
export interface DeleteResult {
  object: KubeObject;
  deleted: boolean;
}

/** Options of a list call. */
export interface ListCall {
  filter: ObjectFilter;
  limit: number | undefined;
  continueToken: string | undefined;
}

/** Kinds whose `status` only changes through the status subresource (PL-VAL-9). */
const STATUS_SUBRESOURCE = new Set(["/pods", "/nodes", "/services", "/namespaces"]);
/** Namespaces that can never be deleted (upstream's immortal namespaces). */
export const IMMORTAL_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);
/** How often a write that lost an optimistic-concurrency race is retried internally. */
const MAX_RETRIES = 5;

const NAMESPACES = findResource("", "v1", "namespaces");
const SERVICE_ACCOUNTS = findResource("", "v1", "serviceaccounts");

function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new TypeError(`resource table misses ${what}`);
  return v;
}

/** The namespaces resource, for internal use. */
export const NAMESPACES_INFO = must(NAMESPACES, "namespaces");

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify(t)).toString("base64url");
}

function decodeContinue(s: string): ContinueToken {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, "base64url").toString("utf8"));
  } catch (err) {
    throw new ApiError("BadRequest", "continue key is not valid", undefined, { cause: err });
  }
  if (isRecord(v) && typeof v["rv"] === "number" && typeof v["start"] === "string") {
    return { rv: v["rv"], start: v["start"] };
  }
  throw badRequest("continue key is not valid");
}

/** Upstream's path-segment rule for names (they become storage keys and URL segments). */
function pathSegmentProblem(name: string): string | undefined {
  if (name === "." || name === "..") return `may not be '${name}'`;
  if (name.includes("/")) return "may not contain '/'";
  if (name.includes("%")) return "may not contain '%'";
  return undefined;
}

/** Kinds whose PUT to a missing object creates it (upstream AllowCreateOnUpdate). */
const CREATE_ON_UPDATE = new Set([
  "/events",
  "/endpoints",
  "coordination.k8s.io/leases",
  "events.k8s.io/events",
]);

/** Returned by one delete attempt that lost a race with another writer. */
const RETRY = Symbol("retry");

/**
 * Generic REST semantics over the Store for every resource: keys, system metadata,
 * optimistic concurrency, status/spec split, graceful deletion and finalizers. Stateless
 * apart from its collaborators; safe for concurrent use (the Store linearizes writes and
 * every read-modify-write is guarded by the revision it read).
 */
export class Registry {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #admission: Admission;
  readonly #logger: Logger;
  /** Called after a namespace got its deletionTimestamp (wakes the namespace finalizer). */
  readonly #onNamespaceTerminating: () => void;
  /** Run the ServiceAccount admission plugin on pod create (token volume injection). */
  readonly #mountServiceAccountToken: boolean;

  constructor(opts: {
    store: Store;
    clock: Clock;
    admission: Admission;
    logger: Logger;
    onNamespaceTerminating: () => void;
    /** @default false */
    mountServiceAccountToken?: boolean;
  }) {
    this.#mountServiceAccountToken = opts.mountServiceAccountToken ?? false;
    this.#store = opts.store;
    this.#clock = opts.clock;
    this.#admission = opts.admission;
    this.#logger = opts.logger;
    this.#onNamespaceTerminating = opts.onNamespaceTerminating;
  }

  #nowIso(): string {
    return rfc3339(this.#clock.now());
  }

  async #getStored(info: ResourceInfo, ns: string | undefined, name: string): Promise<Stored> {
    const s = await this.#store.get(keyFor(info, ns, name));
    if (s === undefined) throw notFound(qualifiedResource(info), name);
    return s;
  }

  /** GET one object. NotFound with upstream wording. */
  async get(info: ResourceInfo, ns: string | undefined, name: string): Promise<KubeObject> {
    return servedStored(info, await this.#getStored(info, ns, name));
  }

  /** LIST with selectors and `limit`/`continue` paging (KA-LIST-1, KA-LIST-2). */
  async list(info: ResourceInfo, ns: string | undefined, call: ListCall): Promise<KubeList> {
    const { items, revision } = await this.#store.list(prefixFor(info, ns));
    let start = 0;
    let listRv = revision;
    if (call.continueToken !== undefined && call.continueToken !== "") {
      const tok = decodeContinue(call.continueToken);
      listRv = tok.rv;
      // Items are sorted by key: binary-search the first key after the token's.
      let lo = 0;
      let hi = items.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((items[mid]?.key ?? "") <= tok.start) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const limit = call.limit !== undefined && call.limit > 0 ? call.limit : Infinity;
    const out: KubeObject[] = [];
    const sources: Stored[] = [];
    const meta: ListMeta = { resourceVersion: String(listRv) };
    let i = start;
    for (; i < items.length; i++) {
      const s = items[i];
      if (s === undefined) continue;
      if (!matchesFilter(call.filter, s.value as KubeObject)) continue;
      if (out.length >= limit) break;
      out.push(servedStored(info, s));
      sources.push(s);
    }
    if (i < items.length) {
      const last = out[out.length - 1];
      if (last !== undefined) {
        meta.continue = encodeContinue({
          rv: listRv,
          start: keyFor(info, last.metadata.namespace, last.metadata.name ?? ""),
        });
        if (call.filter.isEmpty) meta.remainingItemCount = items.length - i;
      }
    }
    return listOfStored(
      {
        apiVersion: info.group === "" ? info.version : `${info.group}/${info.version}`,
        kind: info.listKind,
        metadata: meta,
        items: out,
      },
      info,
      sources,
    );
  }

  /** The namespace must exist and not be terminating before content is created in it. */
  async #checkNamespace(ns: string): Promise<void> {
    const s = await this.#store.get(keyFor(NAMESPACES_INFO, undefined, ns));
    if (s === undefined) throw notFound("namespaces", ns);
    if ((s.value as KubeObject).metadata.deletionTimestamp !== undefined) {
      throw new ApiError(
        "Forbidden",
        `unable to create new content in namespace ${ns} because it is being terminated`,
        { name: ns, kind: "namespaces", group: "" },
      );
    }
  }

  #validate(
    info: ResourceInfo,
    obj: KubeObject,
    old: KubeObject | undefined,
    ctx: WriteContext,
    subresource?: string,
  ): void {
    const errs = this.#admission.validate(info.kind, info.group, obj, old, {
      fieldValidation: ctx.fieldValidation,
      ...(subresource === undefined ? {} : { subresource }),
    });
    if (errs.length > 0) throw invalid(info.kind, obj.metadata.name ?? "", errs, info.group);
  }

  /**
   * The request body as a private object of the resource's kind (400 otherwise). `isPrivate`:
   * the body belongs to this call alone (freshly decoded JSON) and is used without a copy.
   */
  #checkBody(info: ResourceInfo, body: unknown, isPrivate = false): KubeObject {
    if (!isRecord(body)) throw badRequest(`the body of the request must be a ${info.kind} object`);
    checkTypes(info, body);
    const obj = (isPrivate ? body : clone(body)) as unknown as KubeObject;
    if (!isRecord(obj.metadata)) obj.metadata = {};
    const kind = obj.kind;
    if (kind !== undefined && kind !== "" && kind !== info.kind) {
      throw badRequest(
        `${kind} in version "${info.version}" cannot be handled as a ${info.kind}: the kind of the object (${kind}) does not match the kind of the request (${info.kind})`,
      );
    }
    return obj;
  }

  #checkNamespaceField(info: ResourceInfo, obj: KubeObject, ns: string | undefined): void {
    if (!info.namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    const bodyNs = obj.metadata.namespace;
    if (bodyNs !== undefined && bodyNs !== "" && bodyNs !== ns) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    if (ns !== undefined) obj.metadata.namespace = ns;
  }

  /** POST: creates the object (KA-CREATE-1). Returns the stored object (not stored on dryRun). */
  async create(
    info: ResourceInfo,
    ns: string | undefined,
    body: unknown,
    ctx: WriteContext,
  ): Promise<KubeObject> {
    const obj = this.#checkBody(info, body, takePrivateBody(body));
    return this.#createObject(info, ns, obj, ctx);
  }

  async #createObject(
    info: ResourceInfo,
    ns: string | undefined,
    obj: KubeObject,
    ctx: WriteContext,
  ): Promise<KubeObject> {
    this.#checkNamespaceField(info, obj, ns);
    const m = obj.metadata;
    const generated = (m.name === undefined || m.name === "") && (m.generateName ?? "") !== "";
    if (generated) m.name = `${m.generateName ?? ""}${randomSuffix()}`;
    const badSegment = pathSegmentProblem(m.name ?? "");
    if (badSegment !== undefined) {
      throw invalid(
        info.kind,
        m.name ?? "",
        [{ type: "Invalid", field: "metadata.name", value: m.name, detail: badSegment }],
        info.group,
      );
    }
    if (m.name === undefined || m.name === "") {
      throw invalid(
        info.kind,
        "",
        [{ type: "Required", field: "metadata.name", detail: "name or generateName is required" }],
        info.group,
      );
    }
    obj.apiVersion = info.group === "" ? info.version : `${info.group}/${info.version}`;
    obj.kind = info.kind;
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    m.uid = crypto.randomUUID();
    m.creationTimestamp = this.#nowIso();
    m.generation = 1;
    this.#admission.default(info.kind, info.group, obj);
    await this.#prepareForCreate(info, obj);
    this.#validate(info, obj, undefined, ctx);
    if (info.namespaced) await this.#checkNamespace(ns ?? "");
    if (ctx.fieldManager !== undefined) {
      Object.assign(obj, updateManagedFields(undefined, obj, ctx.fieldManager, this.#nowIso()));
    }
    if (ctx.dryRun) return obj;
    for (let attempt = 0; ; attempt++) {
      try {
        const s = await this.#store.create(keyFor(info, ns, m.name), obj);
        await this.#afterCreate(info, obj);
        return servedStored(info, s);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Upstream retries generateName collisions (RetryGenerateName, GA in 1.32).
        if (generated && attempt < 8) {
          m.name = `${m.generateName ?? ""}${randomSuffix()}`;
          continue;
        }
        throw alreadyExists(qualifiedResource(info), m.name);
      }
    }
  }

  async #prepareForCreate(info: ResourceInfo, obj: KubeObject): Promise<void> {
    const rec = obj as unknown as Record<string, unknown>;
    switch (`${info.group}/${info.resource}`) {
      case "/pods": {
        // Upstream resets the status of a new pod to Pending (keeping the computed QoS class).
        const old = isRecord(rec["status"]) ? rec["status"] : {};
        rec["status"] = {
          phase: "Pending",
          ...(old["qosClass"] === undefined ? {} : { qosClass: old["qosClass"] }),
        };
        if (this.#mountServiceAccountToken) await this.#admitServiceAccount(obj as Pod);
        break;
      }
      case "/namespaces": {
        rec["status"] = { phase: "Active" };
        const spec = isRecord(rec["spec"]) ? rec["spec"] : {};
        rec["spec"] = { ...spec, finalizers: ["kubernetes"] };
        break;
      }
      case "/services": {
        const { items } = await this.#store.list(prefixFor(info, undefined));
        allocateServiceAddresses(
          obj,
          items.map((s) => s.value as KubeObject),
        );
        rec["status"] = { loadBalancer: {} };
        break;
      }
      case "/nodes":
        break;
      default:
        break;
    }
  }

  /** Upstream's ServiceAccount admission on pod create: the account must exist; token volume. */
  async #admitServiceAccount(pod: Pod): Promise<void> {
    const ns = pod.metadata.namespace ?? "";
    if ((pod.spec.serviceAccountName ?? "") === "") pod.spec.serviceAccountName = "default";
    const saName = pod.spec.serviceAccountName ?? "default";
    const s = await this.#store.get(keyFor(must(SERVICE_ACCOUNTS, "serviceaccounts"), ns, saName));
    if (s === undefined) {
      // Upstream's namespace lifecycle plugin runs first: a missing namespace is a 404.
      await this.#checkNamespace(ns);
      const name = pod.metadata.name ?? "";
      throw new ApiError(
        "Forbidden",
        `pods "${name}" is forbidden: error looking up service account ${ns}/${saName}: serviceaccount "${saName}" not found`,
        { name, kind: "pods", group: "" },
      );
    }
    injectServiceAccountToken(pod, s.value as ServiceAccount, randomSuffix());
  }

  async #afterCreate(info: ResourceInfo, obj: KubeObject): Promise<void> {
    if (info.group === "" && info.resource === "namespaces") {
      // The serviceaccount controller's job upstream; done inline so pods can be admitted.
      await this.ensureDefaultServiceAccount(obj.metadata.name ?? "");
    }
  }

  /** Creates the `default` ServiceAccount of a namespace unless it exists. Idempotent. */
  async ensureDefaultServiceAccount(ns: string): Promise<void> {
    const sa = must(SERVICE_ACCOUNTS, "serviceaccounts");
    try {
      await this.#store.create(keyFor(sa, ns, "default"), {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: {
          name: "default",
          namespace: ns,
          uid: crypto.randomUUID(),
          creationTimestamp: this.#nowIso(),
        },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /**
   * PUT (and the tail of PATCH): replaces the object with optimistic concurrency on
   * `metadata.resourceVersion` (absent = unconditional, KA-RAW-1). The main resource ignores
   * `status`, the `status` subresource ignores everything but status, `ephemeralcontainers`
   * only takes `spec.ephemeralContainers`. A no-op write stores nothing.
   */
  async update(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    body: unknown,
    ctx: WriteContext,
    subresource: string | undefined,
  ): Promise<WriteResult> {
    const obj = this.#checkBody(info, body);
    return this.#retryUnconditional(obj.metadata.resourceVersion, async () => {
      const cur = await this.#store.get(keyFor(info, ns, name));
      if (cur === undefined) {
        if (subresource !== undefined || !CREATE_ON_UPDATE.has(`${info.group}/${info.resource}`)) {
          throw notFound(qualifiedResource(info), name);
        }
        const fresh = clone(obj);
        if (fresh.metadata.name !== undefined && fresh.metadata.name !== name) {
          throw badRequest(
            `the name of the object (${fresh.metadata.name}) does not match the name on the URL (${name})`,
          );
        }
        fresh.metadata.name = name;
        return { object: await this.#createObject(info, ns, fresh, ctx), created: true };
      }
      return this.#updateFrom(info, ns, name, cur, clone(obj), ctx, subresource);
    });
  }

  async #retryUnconditional<T>(rv: string | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        // Without a client resourceVersion the write is unconditional: a race with another
        // writer between our read and our write is ours to retry, not the client's.
        if (isConflict(err) && (rv === undefined || rv === "") && attempt < MAX_RETRIES) continue;
        throw err;
      }
    }
  }

  async #updateFrom(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    cur: Stored,
    obj: KubeObject,
    ctx: WriteContext,
    subresource: string | undefined,
  ): Promise<WriteResult> {
    const qualified = qualifiedResource(info);
    if (obj.metadata.name !== undefined && obj.metadata.name !== "" && obj.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    this.#checkNamespaceField(info, obj, ns);
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== "" && rv !== String(cur.modRevision)) {
      throw conflict(qualified, name);
    }
    const old = cur.value as KubeObject;
    const next = this.#mergeForUpdate(info, old, obj, subresource);
    // Bodies are defaulted on every decode upstream, so added ephemeral containers get their
    // defaults (imagePullPolicy, terminationMessagePolicy) just like containers at create.
    if (subresource === undefined || subresource === "ephemeralcontainers") {
      this.#admission.default(info.kind, info.group, next);
    }
    this.#validate(info, next, servedStored(info, cur), ctx, subresource);
    delete next.metadata.resourceVersion;
    // A write that changes nothing stores nothing (no new resourceVersion, no event), as
    // upstream; managedFields are only touched by writes that change something.
    if (deepEqual(next, old)) return { object: servedStored(info, cur), created: false };
    if (ctx.fieldManager !== undefined) {
      Object.assign(next, updateManagedFields(old, next, ctx.fieldManager, this.#nowIso()));
    }
    if (ctx.dryRun) return { object: served(info, next, cur.modRevision), created: false };
    if (info.resource !== "namespaces" && this.#shouldRemoveNow(next)) {
      const gone = await this.#removeStored(info, ns, name, cur.modRevision);
      return { object: served(info, next, gone), created: false };
    }
    try {
      const s = await this.#store.update(keyFor(info, ns, name), next, cur.modRevision);
      return { object: servedStored(info, s), created: false };
    } catch (err) {
      if (isConflict(err)) throw conflict(qualified, name);
      if (isNotFound(err)) throw notFound(qualified, name);
      throw err;
    }
  }

  /** The object to store for an update of `old` with the request body `obj`. */
  #mergeForUpdate(
    info: ResourceInfo,
    old: KubeObject,
    obj: KubeObject,
    subresource: string | undefined,
  ): KubeObject {
    const oldRec = old as unknown as Record<string, unknown>;
    const om = old.metadata;
    if (subresource === "status") {
      // Status writes change only status (upstream ResetObjectMetaForStatus + spec copy).
      const next = clone(old);
      const rec = next as unknown as Record<string, unknown>;
      const body = obj as unknown as Record<string, unknown>;
      if (body["status"] === undefined) delete rec["status"];
      else rec["status"] = body["status"];
      return next;
    }
    if (subresource === "finalize") {
      // namespaces/finalize: only spec.finalizers changes.
      const next = clone(old) as KubeObject & { spec?: Record<string, unknown> };
      const body = obj as KubeObject & { spec?: Record<string, unknown> };
      next.spec = { ...(next.spec ?? {}), finalizers: body.spec?.["finalizers"] ?? [] };
      return next;
    }
    if (subresource === "ephemeralcontainers") {
      const next = clone(old) as Pod;
      const eph = (obj as Pod).spec as Pod["spec"] | undefined;
      if (eph?.ephemeralContainers === undefined) delete next.spec.ephemeralContainers;
      else next.spec.ephemeralContainers = eph.ephemeralContainers;
      return next;
    }
    if (subresource !== undefined) {
      throw new ApiError(
        "MethodNotAllowed",
        `the server does not allow this method on the requested resource`,
      );
    }
    const next = obj;
    const rec = next as unknown as Record<string, unknown>;
    next.apiVersion = info.group === "" ? info.version : `${info.group}/${info.version}`;
    next.kind = info.kind;
    const m = next.metadata;
    // System-owned metadata is never taken from the client.
    m.name = om.name ?? "";
    if (om.namespace === undefined) delete m.namespace;
    else m.namespace = om.namespace;
    if (om.uid !== undefined) m.uid = om.uid;
    if (om.creationTimestamp !== undefined) m.creationTimestamp = om.creationTimestamp;
    if (om.deletionTimestamp === undefined) delete m.deletionTimestamp;
    else m.deletionTimestamp = om.deletionTimestamp;
    if (om.deletionGracePeriodSeconds === undefined) delete m.deletionGracePeriodSeconds;
    else m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds;
    if (m.managedFields === undefined && om.managedFields !== undefined) {
      m.managedFields = om.managedFields;
    }
    const key = `${info.group}/${info.resource}`;
    if (STATUS_SUBRESOURCE.has(key)) {
      if (oldRec["status"] === undefined) delete rec["status"];
      else rec["status"] = clone(oldRec["status"]);
    }
    if (key === "/pods") {
      const spec = (next as Pod).spec as Pod["spec"] | undefined;
      const oldEph = (old as Pod).spec.ephemeralContainers;
      if (spec !== undefined) {
        if (oldEph === undefined) delete spec.ephemeralContainers;
        else spec.ephemeralContainers = clone(oldEph);
      }
    }
    if (key === "/services") keepServiceAddresses(old, next);
    if (key === "/namespaces") {
      // spec.finalizers change only through the finalize subresource.
      rec["spec"] = clone(oldRec["spec"]);
    }
    const gen = om.generation ?? 1;
    m.generation = deepEqual(rec["spec"], oldRec["spec"]) ? gen : gen + 1;
    return next;
  }

  /** An object marked for deletion whose last finalizer is gone and whose grace is over. */
  #shouldRemoveNow(obj: KubeObject): boolean {
    const m = obj.metadata;
    return (
      m.deletionTimestamp !== undefined &&
      (m.finalizers ?? []).length === 0 &&
      (m.deletionGracePeriodSeconds ?? 0) === 0
    );
  }

  async #removeStored(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    ifRevision: number,
  ): Promise<number> {
    try {
      await this.#store.delete(keyFor(info, ns, name), { ifRevision });
      return await this.#store.currentRevision();
    } catch (err) {
      if (isConflict(err)) throw conflict(qualifiedResource(info), name);
      if (isNotFound(err)) throw notFound(qualifiedResource(info), name);
      throw err;
    }
  }

  /**
   * PATCH (KA-PATCH-1..4): merge, strategic merge and JSON patches are applied to the
   * current object and stored as an update; apply patches run server-side apply and create
   * a missing object (KA-SSA-1).
   */
  async patch(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    contentType: string,
    patchBody: unknown,
    ctx: WriteContext & { force: boolean },
    subresource: string | undefined,
  ): Promise<WriteResult> {
    const isApply = contentType.startsWith("application/apply-patch");
    if (isApply && (ctx.fieldManager === undefined || ctx.fieldManager === "")) {
      throw invalid(
        "PatchOptions",
        "",
        [{ type: "Required", field: "fieldManager", detail: "is required for apply patch" }],
        "meta.k8s.io",
      );
    }
    const patchRv =
      isRecord(patchBody) && isRecord(patchBody["metadata"])
        ? patchBody["metadata"]["resourceVersion"]
        : undefined;
    return this.#retryUnconditional(typeof patchRv === "string" ? patchRv : undefined, async () => {
      const cur = await this.#store.get(keyFor(info, ns, name));
      if (isApply) {
        const applied = this.#checkBody(info, patchBody);
        if (applied.metadata.name !== undefined && applied.metadata.name !== name) {
          throw badRequest(
            `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
          );
        }
        applied.metadata.name = name;
        const current = cur === undefined ? undefined : servedStored(info, cur);
        const result = serverSideApply(current, applied, {
          manager: ctx.fieldManager ?? "",
          force: ctx.force,
          apiVersion: info.group === "" ? info.version : `${info.group}/${info.version}`,
          nowIso: this.#nowIso(),
          target: { group: info.group, kind: info.kind },
        });
        if (cur === undefined) {
          if (subresource !== undefined) throw notFound(qualifiedResource(info), name);
          const created = await this.#createObject(info, ns, clone(result), {
            ...ctx,
            fieldManager: undefined,
          });
          return { object: created, created: true };
        }
        return this.#updateFrom(
          info,
          ns,
          name,
          cur,
          clone(result),
          { ...ctx, fieldManager: undefined },
          subresource,
        );
      }
      if (cur === undefined) throw notFound(qualifiedResource(info), name);
      const patched = applyPatch(contentType, servedStored(info, cur), patchBody, {
        group: info.group,
        kind: info.kind,
      }) as KubeObject;
      // Upstream decodes the patched object before anything else looks at it, so a wrong type
      // is a 400 even where the subresource would drop the field (status ignores metadata).
      checkTypes(info, patched);
      return this.#updateFrom(info, ns, name, cur, clone(patched), ctx, subresource);
    });
  }

  /**
   * DELETE (KA-DEL-1..4, PL-TERM-1..3): preconditions, graceful deletion for pods,
   * finalizers, propagation finalizers. Returns the object and whether it is gone.
   */
  async delete(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    opts: DeleteOptions,
    ctx: Pick<WriteContext, "dryRun">,
  ): Promise<DeleteResult> {
    const qualified = qualifiedResource(info);
    for (let attempt = 0; ; attempt++) {
      const r = await this.#deleteOnce(info, ns, name, opts, ctx, qualified);
      if (r !== RETRY) return r;
      // Another writer changed the object between our read and write; a delete without a
      // resourceVersion precondition simply re-reads and tries again.
      if (opts.preconditions?.resourceVersion !== undefined || attempt >= MAX_RETRIES) {
        throw conflict(qualified, name);
      }
    }
  }

  async #deleteOnce(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    opts: DeleteOptions,
    ctx: Pick<WriteContext, "dryRun">,
    qualified: string,
  ): Promise<DeleteResult | typeof RETRY> {
    const cur = await this.#getStored(info, ns, name);
    const old = cur.value as KubeObject;
    const pre = opts.preconditions;
    if (pre?.uid !== undefined && pre.uid !== old.metadata.uid) {
      throw conflict(
        qualified,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ""}`,
      );
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== String(cur.modRevision)) {
      throw conflict(
        qualified,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.modRevision}`,
      );
    }
    if (info.group === "" && info.resource === "namespaces") {
      return this.#deleteNamespace(cur, name, ctx);
    }
    const next = clone(old);
    const m = next.metadata;
    let changed = false;
    // Step 1: propagation policies that need the garbage collector become finalizers.
    const policyFinalizer =
      opts.propagationPolicy === "Foreground"
        ? "foregroundDeletion"
        : opts.propagationPolicy === "Orphan"
          ? "orphan"
          : undefined;
    if (policyFinalizer !== undefined && !(m.finalizers ?? []).includes(policyFinalizer)) {
      m.finalizers = [...(m.finalizers ?? []), policyFinalizer];
      changed = true;
    }
    // Step 2: graceful deletion (pods on a node, PL-TERM-1/2/3).
    const grace = this.#gracePeriod(info, old, opts);
    const nowMs = this.#clock.now();
    if (grace > 0) {
      const existing = old.metadata.deletionGracePeriodSeconds;
      if (existing === undefined || grace < existing) {
        const newTs = rfc3339(nowMs + grace * 1000);
        // A later delete may only shorten the grace period.
        if (m.deletionTimestamp === undefined || newTs < m.deletionTimestamp) {
          m.deletionTimestamp = newTs;
        }
        m.deletionGracePeriodSeconds = grace;
        if (existing === undefined) m.generation = (m.generation ?? 1) + 1;
        changed = true;
      }
    } else if ((m.finalizers ?? []).length > 0) {
      if (m.deletionTimestamp === undefined) {
        m.deletionTimestamp = rfc3339(nowMs);
        m.generation = (m.generation ?? 1) + 1;
        changed = true;
      }
      if (m.deletionGracePeriodSeconds !== 0) {
        m.deletionGracePeriodSeconds = 0;
        changed = true;
      }
    }
    const pendingFinalizers = (m.finalizers ?? []).length > 0;
    if (grace > 0 || pendingFinalizers) {
      if (!changed) return { object: servedStored(info, cur), deleted: false };
      if (ctx.dryRun) return { object: served(info, next, cur.modRevision), deleted: false };
      try {
        const s = await this.#store.update(keyFor(info, ns, name), next, cur.modRevision);
        return { object: servedStored(info, s), deleted: false };
      } catch (err) {
        if (isConflict(err)) return RETRY;
        throw err;
      }
    }
    // Step 3: remove the object now.
    if (ctx.dryRun) return { object: servedStored(info, cur), deleted: true };
    let last = cur;
    if (
      info.gracefulDelete === true &&
      (m.deletionTimestamp === undefined || m.deletionGracePeriodSeconds !== 0)
    ) {
      // Upstream's graceful path with a zero grace period: deletionTimestamp and
      // deletionGracePeriodSeconds 0 are written first (a MODIFIED event), then the object is
      // removed, so watchers (`kubectl get -w`) see it Terminating on its way out.
      m.deletionTimestamp ??= rfc3339(nowMs);
      m.deletionGracePeriodSeconds = 0;
      if (old.metadata.deletionTimestamp === undefined) m.generation = (m.generation ?? 1) + 1;
      try {
        last = await this.#store.update(keyFor(info, ns, name), next, cur.modRevision);
      } catch (err) {
        if (isConflict(err)) return RETRY;
        throw err;
      }
    }
    try {
      await this.#store.delete(keyFor(info, ns, name), { ifRevision: last.modRevision });
    } catch (err) {
      if (isConflict(err)) return RETRY;
      // After our deletionTimestamp write the node may finish the pod and delete it first
      // (the kubelet's final delete): the object is gone as asked, as upstream's ignoreNotFound.
      if (isNotFound(err) && last !== cur) {
        const rev = await this.#store.currentRevision();
        return { object: served(info, last.value, rev), deleted: true };
      }
      if (isNotFound(err)) throw notFound(qualified, name);
      throw err;
    }
    const rev = await this.#store.currentRevision();
    return { object: served(info, last.value, rev), deleted: true };
  }

  /** Effective grace period of a delete: 0 for kinds without graceful deletion. */
  #gracePeriod(info: ResourceInfo, obj: KubeObject, opts: DeleteOptions): number {
    if (info.gracefulDelete !== true) return 0;
    const pod = obj as Pod;
    let grace = opts.gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    if (grace < 0) grace = 1;
    const phase = pod.status?.phase;
    // PL-TERM-2: nothing runs yet, or nothing runs any more.
    if ((pod.spec.nodeName ?? "") === "" || phase === "Succeeded" || phase === "Failed") return 0;
    return grace;
  }

  async #deleteNamespace(
    cur: Stored,
    name: string,
    ctx: Pick<WriteContext, "dryRun">,
  ): Promise<DeleteResult> {
    const info = NAMESPACES_INFO;
    if (IMMORTAL_NAMESPACES.has(name)) {
      throw new ApiError(
        "Forbidden",
        `namespaces "${name}" is forbidden: this namespace may not be deleted`,
        { name, kind: "namespaces", group: "" },
      );
    }
    const old = cur.value as KubeObject;
    if (old.metadata.deletionTimestamp !== undefined) {
      return { object: servedStored(info, cur), deleted: false };
    }
    const next = clone(old) as KubeObject & { status?: Record<string, unknown> };
    next.metadata.deletionTimestamp = this.#nowIso();
    next.metadata.deletionGracePeriodSeconds = 0;
    next.status = { ...(next.status ?? {}), phase: "Terminating" };
    if (ctx.dryRun) return { object: served(info, next, cur.modRevision), deleted: false };
    try {
      const s = await this.#store.update(keyFor(info, undefined, name), next, cur.modRevision);
      this.#onNamespaceTerminating();
      return { object: servedStored(info, s), deleted: false };
    } catch (err) {
      if (isConflict(err)) throw conflict("namespaces", name);
      throw err;
    }
  }

  /**
   * One pass of namespace deletion for a terminating namespace: deletes everything in it
   * and, once nothing is left, removes the namespace. Returns true when the namespace is gone.
   */
  async finalizeNamespace(name: string, resources: readonly ResourceInfo[]): Promise<boolean> {
    let remaining = 0;
    for (const info of resources) {
      if (!info.namespaced) continue;
      const { items } = await this.#store.list(prefixFor(info, name));
      for (const s of items) {
        remaining++;
        const obj = s.value as KubeObject;
        if (obj.metadata.deletionTimestamp !== undefined) continue;
        try {
          const r = await this.delete(info, name, obj.metadata.name ?? "", {}, { dryRun: false });
          if (r.deleted) remaining--;
        } catch (err) {
          // Gone or changed under us: the next pass sees the new state.
          if (!isNotFound(err) && !isConflict(err)) throw err;
          this.#logger.debug("namespace content changed during deletion", { namespace: name, err });
        }
      }
    }
    if (remaining > 0) return false;
    const cur = await this.#store.get(keyFor(NAMESPACES_INFO, undefined, name));
    if (cur === undefined) return true;
    try {
      await this.#store.delete(cur.key, { ifRevision: cur.modRevision });
    } catch (err) {
      if (isConflict(err)) return false;
      if (isNotFound(err)) return true;
      throw err;
    }
    return true;
  }

  /** POST pods/binding: assigns the pod to a node (409 if already assigned). */
  async bind(info: ResourceInfo, ns: string, name: string, body: unknown): Promise<void> {
    const target = isRecord(body) && isRecord(body["target"]) ? body["target"] : undefined;
    const node = typeof target?.["name"] === "string" ? target["name"] : "";
    if (node === "") {
      throw invalid("Binding", name, [{ type: "Required", field: "target.name", detail: "" }]);
    }
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#getStored(info, ns, name);
      const pod = clone(cur.value) as Pod;
      if (pod.metadata.deletionTimestamp !== undefined) {
        throw conflict(
          "pods/binding",
          name,
          `pod ${name} is being deleted, cannot be assigned to a host`,
        );
      }
      if ((pod.spec.nodeName ?? "") !== "") {
        throw conflict(
          "pods/binding",
          name,
          `pod ${name} is already assigned to node "${pod.spec.nodeName ?? ""}"`,
        );
      }
      pod.spec.nodeName = node;
      const status = pod.status ?? {};
      const conds = (status.conditions ?? []).filter((c) => c.type !== "PodScheduled");
      conds.push({
        type: "PodScheduled",
        status: "True",
        lastProbeTime: null,
        lastTransitionTime: this.#nowIso(),
      });
      status.conditions = conds;
      pod.status = status;
      try {
        await this.#store.update(cur.key, pod, cur.modRevision);
        return;
      } catch (err) {
        if (isConflict(err) && attempt < MAX_RETRIES) continue;
        throw err;
      }
    }
  }
}

/**
 * Throws the decoder's 400 (`<Kind> in version "v1" cannot be handled as a <Kind>: json: cannot
 * unmarshal …`) for a body with a wrong JSON type, before defaulting, admission or a
 * subresource's field selection could trip over it or silently drop it.
 */
function checkTypes(info: ResourceInfo, body: unknown): void {
  let typeError = findTypeError(info.kind, info.group, body);
  if (typeError === undefined && !hasSchema(info) && isRecord(body)) {
    // A kind without a decode schema still has upstream's TypeMeta and ObjectMeta.
    const { apiVersion, kind, metadata } = body;
    typeError = findTypeError("ConfigMap", "", { apiVersion, kind, metadata })?.replace(
      "Go struct field ConfigMap.",
      `Go struct field ${info.kind}.`,
    );
  }
  if (typeError !== undefined) {
    const version = info.group === "" ? info.version : `${info.group}/${info.version}`;
    throw decodingError(info.kind, version, typeError);
  }
}

const schemaKnown = new Map<ResourceInfo, boolean>();

/** Whether the decoder knows the kind's fields (it names unknown fields only for those). */
function hasSchema(info: ResourceInfo): boolean {
  let known = schemaKnown.get(info);
  if (known === undefined) {
    known = findUnknownFields(info.kind, info.group, { "podrun-probe": true }).length > 0;
    schemaKnown.set(info, known);
  }
  return known;
}
