/** Kubernetes object metadata (metav1.ObjectMeta), as stored and served. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
}

/** metav1.OwnerReference. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** metav1.ManagedFieldsEntry (server-side apply bookkeeping). */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: "Apply" | "Update";
  apiVersion?: string;
  time?: string;
  fieldsType?: "FieldsV1";
  fieldsV1?: unknown;
  subresource?: string;
}

/** Any API object: type meta plus metadata. Kind-specific fields live on the subtypes. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

/** metav1.ListMeta. */
export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A list of objects as served (`PodList`, …). */
export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: ListMeta;
  items: T[];
}

/** metav1.Status, the body of every error response and of some deletes. */
export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: ListMeta;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

/** metav1.StatusDetails. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** metav1.StatusCause. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** metav1.DeleteOptions (the body kubectl sends with DELETE, KA-DEL-1). */
export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: "Orphan" | "Background" | "Foreground";
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/** metav1.LabelSelector. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

/** `namespace/name` (or `name` for cluster-scoped objects): the key controllers queue. */
export function keyOf(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  const name = obj.metadata.name ?? "";
  return ns === undefined || ns === "" ? name : `${ns}/${name}`;
}

/** The second {@link rfc3339} formatted last, with its text. */
let lastRfc3339 = { sec: NaN, text: "" };

/** Current time as RFC 3339 with whole seconds, as Kubernetes serializes metav1.Time. */
export function rfc3339(ms: number): string {
  const sec = Math.floor(ms / 1000);
  // Many writes per second stamp the same second: format it once.
  if (sec !== lastRfc3339.sec) {
    lastRfc3339 = {
      sec,
      text: new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
  }
  return lastRfc3339.text;
}

/** RFC 3339 with microseconds, as metav1.MicroTime serializes (events' eventTime). */
export function rfc3339Micro(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
