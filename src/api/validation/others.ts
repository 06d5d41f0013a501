import type { ConfigMap, Secret, Service } from "../core.js";
import type { FieldError } from "../errors.js";
import {
  deepEqual,
  duplicate,
  forbidden,
  invalidField,
  isObj,
  isOneOf,
  notSupported,
  required,
  tooLong,
} from "./field.js";
import { validateLabels } from "./meta.js";
import { isConfigMapKey, isDns1123Label, isIP, isValidPortName, isValidPortNum } from "./names.js";

/** Maximum total size of a ConfigMap's or Secret's data (1 MiB). */
export const MAX_DATA_SIZE_BYTES = 1024 * 1024;
/** Node port range podrun allocates from. */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

const SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS = ["SCTP", "TCP", "UDP"];

function isHeadless(svc: Service): boolean {
  return svc.spec?.clusterIP === "None";
}

/** Service validation (ValidateService, the subset podrun serves). */
export function validateService(svc: Service): FieldError[] {
  const errs: FieldError[] = [];
  const spec = svc.spec;
  if (!isObj(spec)) return [required("spec")];
  const type = spec.type ?? "ClusterIP";
  if (!SERVICE_TYPES.includes(type)) errs.push(notSupported("spec.type", type, SERVICE_TYPES));
  const ports = spec.ports ?? [];
  if (ports.length === 0 && !isHeadless(svc) && type !== "ExternalName") {
    errs.push(required("spec.ports"));
  }
  if (type === "ExternalName") {
    if (spec.externalName === undefined || spec.externalName === "") {
      errs.push(required("spec.externalName"));
    }
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const pp = `spec.ports[${i}]`;
    if (ports.length > 1 && (p.name === undefined || p.name === ""))
      errs.push(required(`${pp}.name`));
    if (p.name !== undefined && p.name !== "") {
      for (const m of isDns1123Label(p.name)) errs.push(invalidField(`${pp}.name`, p.name, m));
      if (names.has(p.name)) errs.push(duplicate(`${pp}.name`, p.name));
      names.add(p.name);
    }
    for (const m of isValidPortNum(p.port)) errs.push(invalidField(`${pp}.port`, p.port, m));
    if (p.protocol === undefined) errs.push(required(`${pp}.protocol`));
    else if (!PROTOCOLS.includes(p.protocol))
      errs.push(notSupported(`${pp}.protocol`, p.protocol, PROTOCOLS));
    const key = `${p.port}/${p.protocol ?? ""}`;
    if (seen.has(key)) errs.push(duplicate(pp, { port: p.port, protocol: p.protocol }));
    seen.add(key);
    const tp = p.targetPort;
    if (typeof tp === "number") {
      for (const m of isValidPortNum(tp)) errs.push(invalidField(`${pp}.targetPort`, tp, m));
    } else if (typeof tp === "string" && tp !== "") {
      for (const m of isValidPortName(tp)) errs.push(invalidField(`${pp}.targetPort`, tp, m));
    }
    if (p.nodePort !== undefined && p.nodePort !== 0) {
      if (type === "ClusterIP" || type === "ExternalName") {
        errs.push(forbidden(`${pp}.nodePort`, `may not be used when \`type\` is '${type}'`));
      } else if (p.nodePort < NODE_PORT_RANGE.min || p.nodePort > NODE_PORT_RANGE.max) {
        errs.push(
          invalidField(
            `${pp}.nodePort`,
            p.nodePort,
            `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
          ),
        );
      }
    }
  });
  const ip = spec.clusterIP;
  if (ip !== undefined && ip !== "" && ip !== "None" && !isIP(ip)) {
    errs.push(
      invalidField(
        "spec.clusterIPs[0]",
        ip,
        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
      ),
    );
  }
  if (ip === "None" && type !== "ClusterIP") {
    errs.push(
      invalidField("spec.clusterIPs[0]", ip, "may only be set to 'None' for ClusterIP services"),
    );
  }
  if (spec.sessionAffinity !== undefined && !isOneOf(spec.sessionAffinity, ["ClientIP", "None"])) {
    errs.push(notSupported("spec.sessionAffinity", spec.sessionAffinity, ["ClientIP", "None"]));
  }
  errs.push(...validateSessionAffinityConfig(spec));
  for (const f of ["internalTrafficPolicy", "externalTrafficPolicy"] as const) {
    const v = spec[f];
    if (v !== undefined && !isOneOf(v, ["Cluster", "Local"])) {
      errs.push(notSupported(`spec.${f}`, v, ["Cluster", "Local"]));
    }
  }
  // Upstream: the external policy only means something where traffic enters from outside.
  const externallyAccessible =
    type === "NodePort" ||
    type === "LoadBalancer" ||
    (type === "ClusterIP" && (spec.externalIPs ?? []).length > 0);
  if (!externallyAccessible && spec.externalTrafficPolicy !== undefined) {
    errs.push(
      invalidField(
        "spec.externalTrafficPolicy",
        spec.externalTrafficPolicy,
        "may only be set for externally-accessible services",
      ),
    );
  }
  errs.push(...validateLabels(spec.selector, "spec.selector"));
  return errs;
}

/** Longest ClientIP session affinity upstream accepts (one day). */
const MAX_CLIENT_IP_AFFINITY_SECONDS = 86_400;

/** `sessionAffinityConfig` as upstream checks it: required with ClientIP, forbidden with None. */
function validateSessionAffinityConfig(spec: NonNullable<Service["spec"]>): FieldError[] {
  const path = "spec.sessionAffinityConfig";
  const cfg = spec.sessionAffinityConfig;
  if (spec.sessionAffinity === "None" && cfg !== undefined) {
    return [forbidden(path, "must not be set when session affinity is None")];
  }
  if (spec.sessionAffinity !== "ClientIP") return [];
  const why = "when session affinity type is ClientIP";
  if (!isObj(cfg)) return [required(path, why)];
  if (!isObj(cfg.clientIP)) return [required(`${path}.clientIP`, why)];
  const t: unknown = cfg.clientIP.timeoutSeconds;
  if (t === undefined) return [required(`${path}.clientIP.timeoutSeconds`, why)];
  if (
    typeof t !== "number" ||
    !Number.isInteger(t) ||
    t <= 0 ||
    t > MAX_CLIENT_IP_AFFINITY_SECONDS
  ) {
    return [
      invalidField(
        `${path}.clientIP.timeoutSeconds`,
        t,
        `must be greater than 0 and less than ${String(MAX_CLIENT_IP_AFFINITY_SECONDS)}`,
      ),
    ];
  }
  return [];
}

/** Service update: a set cluster IP may not change. */
export function validateServiceUpdate(svc: Service, old: Service): FieldError[] {
  const errs = validateService(svc);
  const oldIP = old.spec?.clusterIP ?? "";
  const newIP = svc.spec?.clusterIP ?? "";
  if (oldIP !== "" && newIP !== "" && oldIP !== newIP && svc.spec?.type !== "ExternalName") {
    errs.push(
      invalidField(
        "spec.clusterIPs[0]",
        svc.spec?.clusterIPs ?? [newIP],
        "may not change once set",
      ),
    );
  }
  return errs;
}

function dataSize(m: Record<string, string> | undefined): number {
  let n = 0;
  for (const [k, v] of Object.entries(m ?? {})) n += k.length + v.length;
  return n;
}

function validateKeys(m: unknown, path: string, errs: FieldError[]): void {
  if (m === undefined || m === null) return;
  if (!isObj(m)) {
    errs.push(invalidField(path, m, "must be a map of strings"));
    return;
  }
  for (const k of Object.keys(m)) {
    for (const msg of isConfigMapKey(k)) errs.push(invalidField(`${path}[${k}]`, k, msg));
  }
}

/** ConfigMap validation: key names, no key in both data and binaryData, ≤ 1 MiB. */
export function validateConfigMap(cm: ConfigMap): FieldError[] {
  const errs: FieldError[] = [];
  validateKeys(cm.data, "data", errs);
  validateKeys(cm.binaryData, "binaryData", errs);
  for (const k of Object.keys(cm.binaryData ?? {})) {
    if (cm.data?.[k] !== undefined) {
      errs.push(invalidField(`binaryData[${k}]`, k, "duplicate of key present in data"));
    }
  }
  // binaryData counts with its decoded size, as upstream measures []byte.
  let binSize = 0;
  for (const [k, v] of Object.entries(cm.binaryData ?? {}))
    binSize += k.length + Buffer.byteLength(v, "base64");
  if (dataSize(cm.data) + binSize > MAX_DATA_SIZE_BYTES)
    errs.push(tooLong("", "", MAX_DATA_SIZE_BYTES));
  return errs;
}

/** ConfigMap update: nothing may change once `immutable` is true. */
export function validateConfigMapUpdate(cm: ConfigMap, old: ConfigMap): FieldError[] {
  const errs = validateConfigMap(cm);
  if (old.immutable === true) {
    if (cm.immutable !== true)
      errs.push(forbidden("immutable", "field is immutable when `immutable` is set"));
    if (!deepEqual(cm.data, old.data))
      errs.push(forbidden("data", "field is immutable when `immutable` is set"));
    if (!deepEqual(cm.binaryData, old.binaryData)) {
      errs.push(forbidden("binaryData", "field is immutable when `immutable` is set"));
    }
  }
  return errs;
}

const SECRET_REQUIRED_KEYS: Record<string, string[]> = {
  "kubernetes.io/dockercfg": [".dockercfg"],
  "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
  "kubernetes.io/tls": ["tls.crt", "tls.key"],
};

/** Secret validation: key names, ≤ 1 MiB decoded, keys required by the secret type. */
export function validateSecret(secret: Secret): FieldError[] {
  const errs: FieldError[] = [];
  validateKeys(secret.data, "data", errs);
  let size = 0;
  for (const [k, v] of Object.entries(secret.data ?? {})) {
    size += k.length + Buffer.byteLength(v, "base64");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
      errs.push(invalidField(`data[${k}]`, "<secret contents redacted>", "must be base64-encoded"));
    }
  }
  if (size > MAX_DATA_SIZE_BYTES) errs.push(tooLong("data", "", MAX_DATA_SIZE_BYTES));
  const type = secret.type ?? "Opaque";
  for (const key of SECRET_REQUIRED_KEYS[type] ?? []) {
    if (secret.data?.[key] === undefined) errs.push(required(`data[${key}]`));
  }
  if (type === "kubernetes.io/service-account-token") {
    if ((secret.metadata.annotations?.["kubernetes.io/service-account.name"] ?? "") === "") {
      errs.push(required("metadata.annotations[kubernetes.io/service-account.name]"));
    }
  }
  if (type === "kubernetes.io/basic-auth") {
    if (secret.data?.["username"] === undefined && secret.data?.["password"] === undefined) {
      errs.push(required("data[username]"));
    }
  }
  return errs;
}

/** Secret update: type is immutable; nothing may change once `immutable` is true. */
export function validateSecretUpdate(secret: Secret, old: Secret): FieldError[] {
  const errs = validateSecret(secret);
  if ((secret.type ?? "Opaque") !== (old.type ?? "Opaque")) {
    errs.push(invalidField("type", secret.type ?? "", "field is immutable"));
  }
  if (old.immutable === true) {
    if (secret.immutable !== true) {
      errs.push(forbidden("immutable", "field is immutable when `immutable` is set"));
    }
    if (!deepEqual(secret.data, old.data)) {
      errs.push(forbidden("data", "field is immutable when `immutable` is set"));
    }
  }
  return errs;
}
