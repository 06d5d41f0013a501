import type { Namespace, Pod } from "../core.js";
import type { FieldError } from "../errors.js";
import type { KubeObject } from "../meta.js";
import { invalidField, isObj } from "./field.js";
import { validateObjectMeta, validateObjectMetaUpdate, type NameValidator } from "./meta.js";
import {
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  isIP,
  isQualifiedName,
} from "./names.js";
import {
  validateConfigMap,
  validateConfigMapUpdate,
  validateSecret,
  validateSecretUpdate,
  validateService,
  validateServiceUpdate,
} from "./others.js";
import {
  validatePodCreate,
  validatePodEphemeralContainersUpdate,
  validatePodSpec,
  validatePodUpdate,
} from "./pod.js";

/** Options for validateObject. */
export interface ValidateOptions {
  /** The subresource being written (`status`, `ephemeralcontainers`, …); absent for the main resource. */
  subresource?: string;
}

const CLUSTER_SCOPED = new Set(["Namespace", "Node", "ClusterRole", "ClusterRoleBinding"]);

/** RBAC kinds: names are path segments (upstream's ValidateRBACName), so `system:discovery` is valid. */
const RBAC_KINDS = new Set(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]);

function isPathSegmentName(name: string): string[] {
  if (name === "." || name === "..") return [`may not be '${name}'`];
  return ["/", "%"].filter((c) => name.includes(c)).map((c) => `may not contain '${c}'`);
}

function nameValidatorFor(kind: string): NameValidator {
  if (RBAC_KINDS.has(kind)) return isPathSegmentName;
  switch (kind) {
    case "Namespace":
      return isDns1123Label;
    case "Service":
      return isDns1035Label;
    default:
      return isDns1123Subdomain;
  }
}

/**
 * Validates an object being created (`old` undefined) or updated, returning every problem as
 * a FieldError with upstream's path, type and detail (PL-VAL). Callers turn a non-empty
 * result into `invalid(kind, name, errors)`. Unknown kinds get metadata validation only.
 * Pure: no I/O, never throws for malformed input.
 */
export function validateObject(
  kind: string,
  group: string,
  obj: KubeObject,
  old: KubeObject | undefined,
  opts: ValidateOptions = {},
): FieldError[] {
  const errs: FieldError[] = [];
  if (old === undefined) {
    errs.push(
      ...validateObjectMeta(obj.metadata, !CLUSTER_SCOPED.has(kind), nameValidatorFor(kind)),
    );
  } else if (isObj(obj.metadata)) {
    errs.push(...validateObjectMetaUpdate(obj.metadata, old.metadata));
    errs.push(
      ...validateObjectMeta(obj.metadata, !CLUSTER_SCOPED.has(kind), nameValidatorFor(kind)).filter(
        (e) => e.field !== "metadata.name" && e.field !== "metadata.generateName",
      ),
    );
  }
  if (group === "") errs.push(...validateCore(kind, obj, old, opts));
  else if (group === "discovery.k8s.io" && kind === "EndpointSlice")
    errs.push(...validateEndpointSlice(obj));
  else if (group === "coordination.k8s.io" && kind === "Lease") errs.push(...validateLease(obj));
  return errs;
}

function validateCore(
  kind: string,
  obj: KubeObject,
  old: KubeObject | undefined,
  opts: ValidateOptions,
): FieldError[] {
  switch (kind) {
    case "Pod": {
      const pod = obj as Pod;
      if (old === undefined) return validatePodCreate(pod);
      // Status writes cannot touch the spec (the apiserver keeps the old one), so only the
      // metadata rules above apply.
      if (opts.subresource === "status") return [];
      if (opts.subresource === "ephemeralcontainers")
        return validatePodEphemeralContainersUpdate(pod, old as Pod);
      if (opts.subresource !== undefined) return validatePodSpec(pod.spec, "spec");
      return validatePodUpdate(pod, old as Pod);
    }
    case "Service":
      return old === undefined ? validateService(obj) : validateServiceUpdate(obj, old);
    case "ConfigMap":
      return old === undefined ? validateConfigMap(obj) : validateConfigMapUpdate(obj, old);
    case "Secret":
      return old === undefined ? validateSecret(obj) : validateSecretUpdate(obj, old);
    case "Namespace":
      return validateNamespace(obj);
    case "Endpoints":
      return validateEndpoints(obj);
    case "Event":
      return validateEvent(obj);
    default:
      return [];
  }
}

function validateNamespace(ns: Namespace): FieldError[] {
  const errs: FieldError[] = [];
  (ns.spec?.finalizers ?? []).forEach((f, i) => {
    if (!f.includes("/") && f !== "kubernetes") {
      errs.push(
        invalidField(
          `spec.finalizers[${i}]`,
          f,
          "name is neither a standard finalizer name nor is it fully qualified",
        ),
      );
    } else {
      for (const m of isQualifiedName(f)) errs.push(invalidField(`spec.finalizers[${i}]`, f, m));
    }
  });
  return errs;
}

interface EndpointsLike {
  subsets?: {
    addresses?: { ip: string }[];
    notReadyAddresses?: { ip: string }[];
    ports?: { name?: string; port: number; protocol?: string }[];
  }[];
}

function validateEndpoints(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const ep = obj as KubeObject & EndpointsLike;
  (ep.subsets ?? []).forEach((s, i) => {
    for (const list of ["addresses", "notReadyAddresses"] as const) {
      (s[list] ?? []).forEach((a, j) => {
        if (!isIP(a.ip))
          errs.push(
            invalidField(`subsets[${i}].${list}[${j}].ip`, a.ip, "must be a valid IP address"),
          );
      });
    }
    (s.ports ?? []).forEach((p, j) => {
      if (p.port < 1 || p.port > 65535) {
        errs.push(
          invalidField(
            `subsets[${i}].ports[${j}].port`,
            p.port,
            "must be between 1 and 65535, inclusive",
          ),
        );
      }
    });
  });
  return errs;
}

function validateEvent(obj: KubeObject): FieldError[] {
  const ev = obj as KubeObject & { involvedObject?: { namespace?: string } };
  const ns = ev.involvedObject?.namespace;
  if (
    ns !== undefined &&
    ns !== "" &&
    obj.metadata.namespace !== undefined &&
    ns !== obj.metadata.namespace
  ) {
    return [invalidField("involvedObject.namespace", ns, "does not match event.namespace")];
  }
  return [];
}

function validateEndpointSlice(obj: KubeObject): FieldError[] {
  const s = obj as KubeObject & { addressType?: string };
  const types = ["FQDN", "IPv4", "IPv6"];
  if (s.addressType === undefined) return [{ type: "Required", field: "addressType" }];
  if (!types.includes(s.addressType))
    return [{ type: "NotSupported", field: "addressType", value: s.addressType, supported: types }];
  return [];
}

function validateLease(obj: KubeObject): FieldError[] {
  const l = obj as KubeObject & { spec?: { leaseDurationSeconds?: number } };
  const d = l.spec?.leaseDurationSeconds;
  if (d !== undefined && d <= 0)
    return [invalidField("spec.leaseDurationSeconds", d, "must be greater than 0")];
  return [];
}
