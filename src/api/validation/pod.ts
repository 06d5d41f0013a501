import type {
  Container,
  EphemeralContainer,
  LifecycleHandler,
  Pod,
  PodSpec,
  Probe,
  Volume,
} from "../core.js";
import type { FieldError } from "../errors.js";
import { VOLUME_SOURCES } from "./defaults.js";
import {
  deepEqual,
  duplicate,
  forbidden,
  invalidField,
  isObj,
  isOneOf,
  isRecord,
  notFoundField,
  notSupported,
  required,
} from "./field.js";
import { validateLabels } from "./meta.js";
import {
  inclusiveRangeError,
  isConfigMapKey,
  isDns1123Label,
  isDns1123Subdomain,
  isEnvVarName,
  isIP,
  isQualifiedName,
  isValidPortName,
  isValidPortNum,
} from "./names.js";
import { canonicalQuantity, QUANTITY_FORMAT_ERROR, tryParseQuantity } from "./quantity.js";

const MAX_INT32 = 2147483647;
const RESTART_POLICIES = ["Always", "OnFailure", "Never"];
const DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PROTOCOLS = ["SCTP", "TCP", "UDP"];
const PULL_POLICIES = ["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES = ["FallbackToLogsOnError", "File"];
const STANDARD_CONTAINER_RESOURCES = new Set(["cpu", "memory", "ephemeral-storage"]);

/** PL-VAL-8: the message of a forbidden pod spec update (followed by a spec diff). */
export const POD_UPDATE_FORBIDDEN_MESSAGE =
  "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

type ContainerKind = "containers" | "initContainers" | "ephemeralContainers";

interface SpecContext {
  volumes: Set<string>;
  gracePeriodSeconds: number | undefined;
  hostNetwork: boolean;
}

function nonNegative(errs: FieldError[], v: unknown, path: string): void {
  if (typeof v === "number" && v < 0) {
    errs.push(invalidField(path, v, "must be greater than or equal to 0"));
  }
}

/** Validates a pod on create (PL-VAL, PL-INIT-7/8, PL-PROBE, PL-HOOK-7, PL-EPH-1). */
export function validatePodCreate(pod: Pod): FieldError[] {
  const errs = validatePodSpec(pod.spec, "spec");
  if (
    isObj(pod.spec) &&
    pod.spec.ephemeralContainers !== undefined &&
    pod.spec.ephemeralContainers.length > 0
  ) {
    errs.push(forbidden("spec.ephemeralContainers", "cannot be set on create"));
  }
  return errs;
}

/** Validates a pod spec (ValidatePodSpec); ephemeral containers only by the caller's choice. */
export function validatePodSpec(spec: PodSpec | undefined, path: string): FieldError[] {
  if (!isObj(spec)) return [required(path)];
  const errs: FieldError[] = [];
  const volumes = validateVolumes(spec.volumes, `${path}.volumes`, errs);
  const ctx: SpecContext = {
    volumes,
    gracePeriodSeconds: spec.terminationGracePeriodSeconds,
    hostNetwork: spec.hostNetwork === true,
  };
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  const inits = Array.isArray(spec.initContainers) ? spec.initContainers : [];
  const names = new Set<string>();
  // Upstream validates the regular containers first, then each init container against their
  // names, so a clash is reported on the init container (PL-EDGE-34).
  if (containers.length === 0) errs.push(required(`${path}.containers`));
  containers.forEach((c, i) => {
    validateContainer(c, "containers", `${path}.containers[${i}]`, ctx, names, errs);
  });
  inits.forEach((c, i) => {
    validateContainer(c, "initContainers", `${path}.initContainers[${i}]`, ctx, names, errs);
  });
  validateHostPorts(containers, `${path}.containers`, errs);
  for (const [i, c] of inits.entries()) validateHostPorts([c], `${path}.initContainers`, errs, i);
  if (spec.ephemeralContainers !== undefined) {
    spec.ephemeralContainers.forEach((c, i) => {
      validateEphemeralContainer(c, `${path}.ephemeralContainers[${i}]`, ctx, names, spec, errs);
    });
  }
  if (spec.restartPolicy === undefined) errs.push(required(`${path}.restartPolicy`));
  else if (!RESTART_POLICIES.includes(spec.restartPolicy)) {
    errs.push(notSupported(`${path}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES));
  }
  if (spec.dnsPolicy === undefined) errs.push(required(`${path}.dnsPolicy`));
  else if (!DNS_POLICIES.includes(spec.dnsPolicy)) {
    errs.push(notSupported(`${path}.dnsPolicy`, spec.dnsPolicy, DNS_POLICIES));
  }
  validateDnsConfig(spec, path, errs);
  if (spec.activeDeadlineSeconds !== undefined) {
    const v = spec.activeDeadlineSeconds;
    if (!Number.isInteger(v) || v < 1 || v > MAX_INT32) {
      errs.push(
        invalidField(`${path}.activeDeadlineSeconds`, v, inclusiveRangeError(1, MAX_INT32)),
      );
    }
  }
  for (const f of ["hostname", "subdomain"] as const) {
    const v = spec[f];
    if (v !== undefined && v !== "") {
      for (const m of isDns1123Label(v)) errs.push(invalidField(`${path}.${f}`, v, m));
    }
  }
  if (spec.serviceAccountName !== undefined && spec.serviceAccountName !== "") {
    for (const m of isDns1123Subdomain(spec.serviceAccountName)) {
      errs.push(invalidField(`${path}.serviceAccountName`, spec.serviceAccountName, m));
    }
  }
  if (spec.nodeName !== undefined && spec.nodeName !== "") {
    for (const m of isDns1123Subdomain(spec.nodeName)) {
      errs.push(invalidField(`${path}.nodeName`, spec.nodeName, m));
    }
  }
  errs.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  (spec.readinessGates ?? []).forEach((g, i) => {
    for (const m of isQualifiedName(g.conditionType)) {
      errs.push(invalidField(`${path}.readinessGates[${i}].conditionType`, g.conditionType, m));
    }
  });
  (spec.tolerations ?? []).forEach((t, i) => {
    const p = `${path}.tolerations[${i}]`;
    if (t.operator !== undefined && !isOneOf(t.operator, ["Equal", "Exists"])) {
      errs.push(notSupported(`${p}.operator`, t.operator, ["Equal", "Exists"]));
    }
    if (t.operator === "Exists" && t.value !== undefined && t.value !== "") {
      errs.push(
        invalidField(`${p}.operator`, t.value, "value must be empty when `operator` is 'Exists'"),
      );
    }
    if ((t.key === undefined || t.key === "") && t.operator !== "Exists") {
      errs.push(
        invalidField(
          `${p}.operator`,
          t.operator ?? "",
          'operator must be Exists when `key` is empty, which means "match all values and all keys"',
        ),
      );
    }
    if (t.tolerationSeconds !== undefined && t.effect !== "NoExecute") {
      errs.push(
        invalidField(
          `${p}.effect`,
          t.effect ?? "",
          "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ),
      );
    }
  });
  return errs;
}

function validateDnsConfig(spec: PodSpec, path: string, errs: FieldError[]): void {
  const cfg = spec.dnsConfig;
  const p = `${path}.dnsConfig`;
  if (spec.dnsPolicy === "None") {
    if (cfg === undefined) {
      errs.push(required(p, "must provide `dnsConfig` when `dnsPolicy` is None"));
      return;
    }
    if ((cfg.nameservers ?? []).length === 0) {
      errs.push(
        required(
          `${p}.nameservers`,
          "must provide at least one DNS nameserver when `dnsPolicy` is None",
        ),
      );
    }
  }
  if (cfg === undefined) return;
  const ns = cfg.nameservers ?? [];
  if (ns.length > 3) {
    errs.push(invalidField(`${p}.nameservers`, ns, "must not have more than 3 nameservers"));
  }
  ns.forEach((n, i) => {
    if (!isIP(n))
      errs.push(invalidField(`${p}.nameservers[${i}]`, n, "must be a valid IP address"));
  });
  const searches = cfg.searches ?? [];
  if (searches.length > 32) {
    errs.push(invalidField(`${p}.searches`, searches, "must not have more than 32 search paths"));
  }
  if (searches.join(" ").length > 2048) {
    errs.push(
      invalidField(
        `${p}.searches`,
        searches,
        "must not have more than 2048 characters (including spaces) in the search list",
      ),
    );
  }
}

function validateVolumes(
  volumes: Volume[] | undefined,
  path: string,
  errs: FieldError[],
): Set<string> {
  const names = new Set<string>();
  if (volumes === undefined) return names;
  if (!Array.isArray(volumes)) {
    errs.push(invalidField(path, volumes, "must be a list"));
    return names;
  }
  volumes.forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(v)) {
      errs.push(required(p));
      return;
    }
    const name = typeof v.name === "string" ? v.name : "";
    if (name === "") errs.push(required(`${p}.name`));
    else {
      for (const m of isDns1123Label(name)) errs.push(invalidField(`${p}.name`, name, m));
      if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
      names.add(name);
    }
    const rec = v as unknown as Record<string, unknown>;
    const sources = VOLUME_SOURCES.filter((s) => rec[s] !== undefined && rec[s] !== null);
    if (sources.length === 0) errs.push(required(p, "must specify a volume type"));
    for (const extra of sources.slice(1)) {
      errs.push(forbidden(`${p}.${extra}`, "may not specify more than 1 volume type"));
    }
    validateVolumeSource(v, p, errs);
  });
  return names;
}

function validateMode(mode: number | undefined, path: string, errs: FieldError[]): void {
  if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o777)) {
    errs.push(
      invalidField(path, mode, "must be a number between 0 and 0777 (octal), both inclusive"),
    );
  }
}

function validateLocalPath(p: string, path: string, errs: FieldError[]): void {
  if (p.startsWith("/")) errs.push(invalidField(path, p, "must be a relative path"));
  if (p.split("/").includes("..")) errs.push(invalidField(path, p, "must not contain '..'"));
}

function validateItems(
  items: { key: string; path: string; mode?: number }[] | undefined,
  path: string,
  errs: FieldError[],
): void {
  (items ?? []).forEach((it, i) => {
    const p = `${path}.items[${i}]`;
    if (it.key === "") errs.push(required(`${p}.key`));
    else for (const m of isConfigMapKey(it.key)) errs.push(invalidField(`${p}.key`, it.key, m));
    if (it.path === "") errs.push(required(`${p}.path`));
    else validateLocalPath(it.path, `${p}.path`, errs);
    validateMode(it.mode, `${p}.mode`, errs);
  });
}

function validateVolumeSource(v: Volume, p: string, errs: FieldError[]): void {
  if (v.configMap !== undefined) {
    if (v.configMap.name === "") errs.push(required(`${p}.configMap.name`));
    validateMode(v.configMap.defaultMode, `${p}.configMap.defaultMode`, errs);
    validateItems(v.configMap.items, `${p}.configMap`, errs);
  }
  if (v.secret !== undefined) {
    if (v.secret.secretName === undefined || v.secret.secretName === "") {
      errs.push(required(`${p}.secret.secretName`));
    }
    validateMode(v.secret.defaultMode, `${p}.secret.defaultMode`, errs);
    validateItems(v.secret.items, `${p}.secret`, errs);
  }
  if (v.hostPath !== undefined) {
    if (v.hostPath.path === "") errs.push(required(`${p}.hostPath.path`));
    const types = [
      "",
      "BlockDevice",
      "CharDevice",
      "Directory",
      "DirectoryOrCreate",
      "File",
      "FileOrCreate",
      "Socket",
    ];
    if (v.hostPath.type !== undefined && !types.includes(v.hostPath.type)) {
      errs.push(notSupported(`${p}.hostPath.type`, v.hostPath.type, types));
    }
  }
  if (v.emptyDir?.medium !== undefined && !isOneOf(v.emptyDir.medium, ["", "Memory"])) {
    errs.push(notSupported(`${p}.emptyDir.medium`, v.emptyDir.medium, ["", "Memory"]));
  }
  if (v.emptyDir?.sizeLimit !== undefined && tryParseQuantity(v.emptyDir.sizeLimit) === undefined) {
    errs.push(invalidField(`${p}.emptyDir.sizeLimit`, v.emptyDir.sizeLimit, QUANTITY_FORMAT_ERROR));
  }
  if (v.downwardAPI !== undefined) {
    validateMode(v.downwardAPI.defaultMode, `${p}.downwardAPI.defaultMode`, errs);
    (v.downwardAPI.items ?? []).forEach((it, i) => {
      const ip = `${p}.downwardAPI.items[${i}]`;
      if (it.path === "") errs.push(required(`${ip}.path`));
      else validateLocalPath(it.path, `${ip}.path`, errs);
      if ((it.fieldRef === undefined) === (it.resourceFieldRef === undefined)) {
        errs.push(
          invalidField(ip, "", "fieldRef and resourceFieldRef can not be specified simultaneously"),
        );
      }
    });
  }
  if (v.persistentVolumeClaim?.claimName === "") {
    errs.push(required(`${p}.persistentVolumeClaim.claimName`));
  }
  if (v.projected !== undefined)
    validateMode(v.projected.defaultMode, `${p}.projected.defaultMode`, errs);
}

function validateContainer(
  c: Container,
  kind: Exclude<ContainerKind, "ephemeralContainers">,
  p: string,
  ctx: SpecContext,
  names: Set<string>,
  errs: FieldError[],
): void {
  if (!isObj(c)) {
    errs.push(required(p));
    return;
  }
  validateCommonContainer(c, p, ctx, names, errs);
  const isSidecar = kind === "initContainers" && c.restartPolicy === "Always";
  if (kind === "initContainers") {
    // PL-INIT-8: only "Always" is a valid init container restartPolicy.
    if (c.restartPolicy !== undefined && (c.restartPolicy as string) !== "Always") {
      errs.push(notSupported(`${p}.restartPolicy`, c.restartPolicy, ["Always"]));
    }
    if (!isSidecar) {
      // PL-INIT-7: regular init containers run to completion: no hooks, no probes.
      for (const f of ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] as const) {
        if (c[f] !== undefined) {
          errs.push(
            forbidden(
              `${p}.${f}`,
              "may not be set for init containers without restartPolicy=Always",
            ),
          );
        }
      }
    }
  } else if (c.restartPolicy !== undefined) {
    errs.push(forbidden(`${p}.restartPolicy`, "may not be set for non-init containers"));
  }
  if (kind === "containers" || isSidecar) {
    validateProbe(c.livenessProbe, `${p}.livenessProbe`, ctx, "liveness", errs);
    validateProbe(c.readinessProbe, `${p}.readinessProbe`, ctx, "readiness", errs);
    validateProbe(c.startupProbe, `${p}.startupProbe`, ctx, "startup", errs);
    validateLifecycle(c, p, ctx, errs);
  }
  validatePorts(c, p, errs);
  validateResources(c, p, errs);
}

function validateEphemeralContainer(
  c: EphemeralContainer,
  p: string,
  ctx: SpecContext,
  names: Set<string>,
  spec: PodSpec,
  errs: FieldError[],
): void {
  if (!isObj(c)) {
    errs.push(required(p));
    return;
  }
  validateCommonContainer(c, p, ctx, names, errs);
  // PL-EPH-2: ephemeral containers get no ports, probes, hooks, resources or restart rules.
  const disallowed = [
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "resizePolicy",
    "restartPolicy",
  ] as const;
  for (const f of disallowed) {
    const v: unknown = c[f];
    const isEmpty =
      v === undefined ||
      (f === "resources" && isRecord(v) && Object.keys(v).length === 0) ||
      (Array.isArray(v) && v.length === 0);
    if (!isEmpty) errs.push(forbidden(`${p}.${f}`, "cannot be set for an Ephemeral Container"));
  }
  (c.volumeMounts ?? []).forEach((m, i) => {
    for (const f of ["subPath", "subPathExpr"] as const) {
      if (m[f] !== undefined && m[f] !== "") {
        errs.push(
          forbidden(`${p}.volumeMounts[${i}].${f}`, "cannot be set for an Ephemeral Container"),
        );
      }
    }
  });
  // PL-EPH-3: the target must be a regular or init container of this pod.
  if (c.targetContainerName !== undefined && c.targetContainerName !== "") {
    const all = [
      ...((spec.containers as Container[] | undefined) ?? []),
      ...(spec.initContainers ?? []),
    ];
    if (!all.some((x) => x.name === c.targetContainerName)) {
      errs.push(notFoundField(`${p}.targetContainerName`, c.targetContainerName));
    }
  }
}

function validateCommonContainer(
  c: Container,
  p: string,
  ctx: SpecContext,
  names: Set<string>,
  errs: FieldError[],
): void {
  const name = typeof c.name === "string" ? c.name : "";
  if (name === "") errs.push(required(`${p}.name`));
  else {
    for (const m of isDns1123Label(name)) errs.push(invalidField(`${p}.name`, name, m));
    if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
    names.add(name);
  }
  if (c.image === undefined || c.image === "") errs.push(required(`${p}.image`));
  else if (c.image.trim() !== c.image) {
    errs.push(invalidField(`${p}.image`, c.image, "must not have leading or trailing whitespace"));
  }
  if (c.imagePullPolicy === undefined) errs.push(required(`${p}.imagePullPolicy`));
  else if (!PULL_POLICIES.includes(c.imagePullPolicy)) {
    errs.push(notSupported(`${p}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES));
  }
  if (c.terminationMessagePolicy === undefined)
    errs.push(required(`${p}.terminationMessagePolicy`));
  else if (!TERMINATION_MESSAGE_POLICIES.includes(c.terminationMessagePolicy)) {
    errs.push(
      notSupported(
        `${p}.terminationMessagePolicy`,
        c.terminationMessagePolicy,
        TERMINATION_MESSAGE_POLICIES,
      ),
    );
  }
  validateEnv(c, p, errs);
  validateVolumeMounts(c, p, ctx, errs);
}

function validateEnv(c: Container, p: string, errs: FieldError[]): void {
  (c.env ?? []).forEach((e, i) => {
    const ep = `${p}.env[${i}]`;
    if (e.name === "") errs.push(required(`${ep}.name`));
    else for (const m of isEnvVarName(e.name)) errs.push(invalidField(`${ep}.name`, e.name, m));
    const src = e.valueFrom;
    if (src === undefined) return;
    const set = (
      ["fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"] as const
    ).filter((k) => src[k] !== undefined);
    if (set.length === 0) {
      errs.push(
        invalidField(
          `${ep}.valueFrom`,
          "",
          "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ),
      );
    } else if (set.length > 1) {
      errs.push(
        invalidField(`${ep}.valueFrom`, "", "may not have more than one field specified at a time"),
      );
    }
    if (e.value !== undefined && e.value !== "") {
      errs.push(
        invalidField(`${ep}.valueFrom`, "", "may not be specified when `value` is not empty"),
      );
    }
    for (const k of ["configMapKeyRef", "secretKeyRef"] as const) {
      const ref = src[k];
      if (ref === undefined) continue;
      if (ref.key === "") errs.push(required(`${ep}.valueFrom.${k}.key`));
      else
        for (const m of isConfigMapKey(ref.key))
          errs.push(invalidField(`${ep}.valueFrom.${k}.key`, ref.key, m));
      if (ref.name === "") errs.push(required(`${ep}.valueFrom.${k}.name`));
    }
    if (src.fieldRef?.fieldPath === "") {
      errs.push(required(`${ep}.valueFrom.fieldRef.fieldPath`));
    }
  });
  (c.envFrom ?? []).forEach((e, i) => {
    const ep = `${p}.envFrom[${i}]`;
    const n = (e.configMapRef === undefined ? 0 : 1) + (e.secretRef === undefined ? 0 : 1);
    if (n === 0)
      errs.push(invalidField(ep, "", "must specify one of: `configMapRef` or `secretRef`"));
    if (n > 1)
      errs.push(invalidField(ep, "", "may not have more than one field specified at a time"));
    if (e.prefix !== undefined && e.prefix !== "") {
      for (const m of isEnvVarName(e.prefix)) errs.push(invalidField(`${ep}.prefix`, e.prefix, m));
    }
  });
}

function validateVolumeMounts(c: Container, p: string, ctx: SpecContext, errs: FieldError[]): void {
  const paths = new Set<string>();
  (c.volumeMounts ?? []).forEach((m, i) => {
    const mp = `${p}.volumeMounts[${i}]`;
    if (m.name === "") errs.push(required(`${mp}.name`));
    else if (!ctx.volumes.has(m.name)) errs.push(notFoundField(`${mp}.name`, m.name));
    if (m.mountPath === "") errs.push(required(`${mp}.mountPath`));
    else {
      if (paths.has(m.mountPath))
        errs.push(invalidField(`${mp}.mountPath`, m.mountPath, "must be unique"));
      paths.add(m.mountPath);
    }
    if (m.subPath !== undefined && m.subPath !== "")
      validateLocalPath(m.subPath, `${mp}.subPath`, errs);
    if (
      m.subPath !== undefined &&
      m.subPath !== "" &&
      m.subPathExpr !== undefined &&
      m.subPathExpr !== ""
    ) {
      errs.push(
        invalidField(
          `${mp}.subPathExpr`,
          m.subPathExpr,
          "subPathExpr and subPath are mutually exclusive",
        ),
      );
    }
    const props = ["None", "HostToContainer", "Bidirectional"];
    if (m.mountPropagation !== undefined && !props.includes(m.mountPropagation)) {
      errs.push(notSupported(`${mp}.mountPropagation`, m.mountPropagation, props));
    }
    if (m.mountPropagation === "Bidirectional" && c.securityContext?.privileged !== true) {
      errs.push(
        forbidden(
          `${mp}.mountPropagation`,
          "Bidirectional mount propagation is available only to privileged containers",
        ),
      );
    }
  });
}

function validatePorts(c: Container, p: string, errs: FieldError[]): void {
  const names = new Set<string>();
  (c.ports ?? []).forEach((port, i) => {
    const pp = `${p}.ports[${i}]`;
    if (port.name !== undefined && port.name !== "") {
      for (const m of isValidPortName(port.name))
        errs.push(invalidField(`${pp}.name`, port.name, m));
      if (names.has(port.name)) errs.push(duplicate(`${pp}.name`, port.name));
      names.add(port.name);
    }
    if (port.containerPort === 0) errs.push(required(`${pp}.containerPort`));
    else
      for (const m of isValidPortNum(port.containerPort))
        errs.push(invalidField(`${pp}.containerPort`, port.containerPort, m));
    if (port.hostPort !== undefined && port.hostPort !== 0) {
      for (const m of isValidPortNum(port.hostPort))
        errs.push(invalidField(`${pp}.hostPort`, port.hostPort, m));
    }
    if (port.protocol === undefined) errs.push(required(`${pp}.protocol`));
    else if (!PROTOCOLS.includes(port.protocol))
      errs.push(notSupported(`${pp}.protocol`, port.protocol, PROTOCOLS));
  });
}

/** PL-VAL-10: host ports (hostIP/protocol/port) must be unique across the given containers. */
function validateHostPorts(
  containers: Container[],
  path: string,
  errs: FieldError[],
  offset = 0,
): void {
  const seen = new Set<string>();
  containers.forEach((c, ci) => {
    if (!isObj(c)) return;
    (c.ports ?? []).forEach((port, pi) => {
      const hp = port.hostPort ?? 0;
      if (hp === 0) return;
      const key = `${port.protocol ?? ""}/${port.hostIP ?? ""}/${hp}`;
      if (seen.has(key)) errs.push(duplicate(`${path}[${ci + offset}].ports[${pi}].hostPort`, key));
      seen.add(key);
    });
  });
}

function validateResources(c: Container, p: string, errs: FieldError[]): void {
  const res = c.resources;
  if (res === undefined) return;
  const parsed: Record<"limits" | "requests", Map<string, number>> = {
    limits: new Map(),
    requests: new Map(),
  };
  for (const kind of ["limits", "requests"] as const) {
    const m = res[kind];
    if (m === undefined) continue;
    for (const [name, q] of Object.entries(m)) {
      const fp = `${p}.resources.${kind}[${name}]`;
      if (
        !STANDARD_CONTAINER_RESOURCES.has(name) &&
        !name.startsWith("hugepages-") &&
        !name.includes("/")
      ) {
        errs.push(
          notSupported(`${p}.resources.${kind}`, name, ["cpu", "ephemeral-storage", "memory"]),
        );
        continue;
      }
      const pq = tryParseQuantity(q);
      if (pq === undefined) {
        errs.push(invalidField(fp, q, QUANTITY_FORMAT_ERROR));
        continue;
      }
      if (pq.value < 0)
        errs.push(invalidField(fp, canonicalQuantity(q), "must be greater than or equal to 0"));
      parsed[kind].set(name, pq.value);
    }
  }
  for (const [name, r] of parsed.requests) {
    const l = parsed.limits.get(name);
    const lq = res.limits?.[name];
    const rq = res.requests?.[name];
    if (l !== undefined && lq !== undefined && rq !== undefined && r > l) {
      errs.push(
        invalidField(
          `${p}.resources.requests[${name}]`,
          canonicalQuantity(rq),
          `must be less than or equal to ${name} limit of ${canonicalQuantity(lq)}`,
        ),
      );
    }
  }
}

type ProbeType = "liveness" | "readiness" | "startup";

function validateProbe(
  probe: Probe | undefined,
  p: string,
  ctx: SpecContext,
  type: ProbeType,
  errs: FieldError[],
): void {
  if (probe === undefined) return;
  if (!isObj(probe)) {
    errs.push(invalidField(p, probe, "must be an object"));
    return;
  }
  validateHandler(probe, p, ctx, ["exec", "httpGet", "tcpSocket", "grpc"], errs);
  nonNegative(errs, probe.initialDelaySeconds, `${p}.initialDelaySeconds`);
  nonNegative(errs, probe.timeoutSeconds, `${p}.timeoutSeconds`);
  nonNegative(errs, probe.periodSeconds, `${p}.periodSeconds`);
  nonNegative(errs, probe.successThreshold, `${p}.successThreshold`);
  nonNegative(errs, probe.failureThreshold, `${p}.failureThreshold`);
  if (probe.terminationGracePeriodSeconds !== undefined) {
    if (type === "readiness") {
      errs.push(
        invalidField(
          `${p}.terminationGracePeriodSeconds`,
          probe.terminationGracePeriodSeconds,
          "must not be set for readinessProbes",
        ),
      );
    } else if (probe.terminationGracePeriodSeconds <= 0) {
      errs.push(
        invalidField(
          `${p}.terminationGracePeriodSeconds`,
          probe.terminationGracePeriodSeconds,
          "must be greater than 0",
        ),
      );
    }
  }
  if (
    type !== "readiness" &&
    probe.successThreshold !== undefined &&
    probe.successThreshold !== 1
  ) {
    errs.push(invalidField(`${p}.successThreshold`, probe.successThreshold, "must be 1"));
  }
}

type HandlerField = "exec" | "httpGet" | "tcpSocket" | "grpc" | "sleep";

function validatePortNumOrName(port: unknown, p: string, errs: FieldError[]): void {
  if (typeof port === "number") {
    for (const m of isValidPortNum(port)) errs.push(invalidField(p, port, m));
  } else if (typeof port === "string") {
    if (port === "") errs.push(required(p));
    else if (/^\d+$/.test(port)) {
      for (const m of isValidPortNum(Number(port))) errs.push(invalidField(p, port, m));
    } else for (const m of isValidPortName(port)) errs.push(invalidField(p, port, m));
  } else {
    errs.push(required(p));
  }
}

function validateHandler(
  h: Probe | LifecycleHandler,
  p: string,
  ctx: SpecContext,
  allowed: HandlerField[],
  errs: FieldError[],
): void {
  const rec = h as Record<string, unknown>;
  const present = allowed.filter((f) => rec[f] !== undefined && rec[f] !== null);
  if (present.length === 0) {
    errs.push(required(p, "must specify a handler type"));
    return;
  }
  for (const extra of present.slice(1)) {
    errs.push(forbidden(`${p}.${extra}`, "may not specify more than 1 handler type"));
  }
  const exec = (h as Probe).exec;
  if (exec !== undefined && (exec.command ?? []).length === 0)
    errs.push(required(`${p}.exec.command`));
  const http = (h as Probe).httpGet;
  if (http !== undefined) {
    if (http.path === undefined || http.path === "") errs.push(required(`${p}.httpGet.path`));
    validatePortNumOrName(http.port, `${p}.httpGet.port`, errs);
    if (http.scheme !== undefined && !isOneOf(http.scheme, ["HTTP", "HTTPS"])) {
      errs.push(notSupported(`${p}.httpGet.scheme`, http.scheme, ["HTTP", "HTTPS"]));
    }
  }
  const tcp = (h as Probe).tcpSocket;
  if (tcp !== undefined) validatePortNumOrName(tcp.port, `${p}.tcpSocket.port`, errs);
  const grpc = (h as Probe).grpc;
  if (grpc !== undefined) {
    for (const m of isValidPortNum(grpc.port))
      errs.push(invalidField(`${p}.grpc.port`, grpc.port, m));
  }
  const sleep = (h as LifecycleHandler).sleep;
  if (sleep !== undefined && ctx.gracePeriodSeconds !== undefined) {
    // PL-HOOK-7 with PodLifecycleSleepActionAllowZero (beta, on in v1.33): 0 ≤ s ≤ grace.
    const g = ctx.gracePeriodSeconds;
    if (sleep.seconds < 0 || sleep.seconds > g) {
      errs.push(
        invalidField(
          `${p}.sleep`,
          sleep.seconds,
          `must be non-negative and less than terminationGracePeriodSeconds (${g})`,
        ),
      );
    }
  }
}

function validateLifecycle(c: Container, p: string, ctx: SpecContext, errs: FieldError[]): void {
  const l = c.lifecycle;
  if (l === undefined) return;
  for (const hook of ["postStart", "preStop"] as const) {
    const h = l[hook];
    if (h !== undefined)
      validateHandler(
        h,
        `${p}.lifecycle.${hook}`,
        ctx,
        ["exec", "httpGet", "tcpSocket", "sleep"],
        errs,
      );
  }
}

/** Copies `v` as plain JSON (spec values are JSON, so this is a faithful deep copy). */
function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/**
 * Validates a pod update through the main resource (PL-VAL-8, PL-TERM-10): only images,
 * activeDeadlineSeconds, toleration additions, a negative grace period set to 1 and removal
 * of scheduling gates may change.
 */
export function validatePodUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs = validatePodSpec(pod.spec, "spec");
  if (!isObj(pod.spec) || !isObj(old.spec)) return errs;
  const spec = pod.spec;
  const oldSpec = old.spec;
  // PL-TERM-10: activeDeadlineSeconds may be lowered or added, never raised or removed.
  const newAds = spec.activeDeadlineSeconds;
  const oldAds = oldSpec.activeDeadlineSeconds;
  if (newAds === undefined && oldAds !== undefined) {
    errs.push(
      invalidField(
        "spec.activeDeadlineSeconds",
        null,
        "must not update from a positive integer to nil value",
      ),
    );
  } else if (newAds !== undefined && oldAds !== undefined && newAds > oldAds) {
    errs.push(
      invalidField(
        "spec.activeDeadlineSeconds",
        newAds,
        "must be less than or equal to previous value",
      ),
    );
  }
  // Build what the new spec would be if only the mutable fields had changed, then compare.
  const mutated = clone(oldSpec);
  for (const kind of ["containers", "initContainers"] as const) {
    const newList = spec[kind];
    const oldList = mutated[kind];
    if (Array.isArray(newList) && Array.isArray(oldList) && newList.length === oldList.length) {
      oldList.forEach((c, i) => {
        const img = newList[i]?.image;
        if (img !== undefined) c.image = img;
        else delete c.image;
      });
    }
  }
  if (newAds === undefined) delete mutated.activeDeadlineSeconds;
  else mutated.activeDeadlineSeconds = newAds;
  const oldTol = oldSpec.tolerations ?? [];
  const newTol = spec.tolerations ?? [];
  if (oldTol.every((t) => newTol.some((n) => deepEqual(n, t)))) {
    if (spec.tolerations === undefined) delete mutated.tolerations;
    else mutated.tolerations = clone(spec.tolerations);
  }
  const oldGrace = oldSpec.terminationGracePeriodSeconds;
  if (oldGrace !== undefined && oldGrace < 0 && spec.terminationGracePeriodSeconds === 1) {
    mutated.terminationGracePeriodSeconds = 1;
  }
  // Scheduling gates may only be removed.
  const oldGates = oldSpec.schedulingGates ?? [];
  const newGates = spec.schedulingGates ?? [];
  if (newGates.every((g) => oldGates.some((o) => o.name === g.name))) {
    if (spec.schedulingGates === undefined) delete mutated.schedulingGates;
    else mutated.schedulingGates = clone(spec.schedulingGates);
  }
  if (!deepEqual(mutated, spec)) {
    errs.push(forbidden("spec", `${POD_UPDATE_FORBIDDEN_MESSAGE}\n${specDiff(mutated, spec)}`));
  }
  return errs;
}

/**
 * A simplified rendering of upstream's cmp.Diff between the spec allowed and the spec
 * requested: one `-`/`+` line per differing leaf path, inside `core.PodSpec{ … }`.
 */
export function specDiff(from: unknown, to: unknown): string {
  const lines: string[] = [];
  diffInto(from, to, "", lines);
  return `  core.PodSpec{\n${lines.join("\n")}\n  }\n`;
}

function render(v: unknown): string {
  return v === undefined ? "nil" : JSON.stringify(v);
}

function diffInto(a: unknown, b: unknown, path: string, out: string[]): void {
  if (deepEqual(a, b)) return;
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) diffInto(a[k], b[k], path === "" ? k : `${path}.${k}`, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => {
      diffInto(x, b[i], `${path}[${i}]`, out);
    });
    return;
  }
  out.push(`  \t- ${path}: ${render(a)},`);
  out.push(`  \t+ ${path}: ${render(b)},`);
}

/**
 * Validates an update through `pods/ephemeralcontainers` (PL-EPH-1..3): existing ephemeral
 * containers may be neither changed nor removed, new ones follow the ephemeral rules.
 */
export function validatePodEphemeralContainersUpdate(pod: Pod, old: Pod): FieldError[] {
  const errs = validatePodSpec(pod.spec, "spec");
  if (!isObj(pod.spec) || !isObj(old.spec)) return errs;
  const newList = pod.spec.ephemeralContainers ?? [];
  const oldList = old.spec.ephemeralContainers ?? [];
  const byName = new Map(newList.map((c) => [c.name, c]));
  for (const o of oldList) {
    const n = byName.get(o.name);
    if (n === undefined) {
      errs.push(
        forbidden(
          "spec.ephemeralContainers",
          `existing ephemeral containers "${o.name}" may not be removed`,
        ),
      );
    } else if (!deepEqual(n, o)) {
      const i = newList.indexOf(n);
      errs.push(
        forbidden(
          `spec.ephemeralContainers[${i}]`,
          `existing ephemeral containers "${o.name}" may not be changed`,
        ),
      );
    }
  }
  return errs;
}
