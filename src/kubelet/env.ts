import type { ConfigMap, Container, EnvVarSource, Pod, Secret, Service } from "../api/index.js";
import type { ImageConfig } from "../runtime/index.js";
import { milliValue, intValue, quantityValue } from "./resources.js";

/**
 * What env resolution reads from the cluster and the node. The getters resolve `undefined`
 * for a missing object; any other failure is thrown and surfaces as CreateContainerConfigError.
 */
export interface EnvDeps {
  getConfigMap(ns: string, name: string): Promise<ConfigMap | undefined>;
  getSecret(ns: string, name: string): Promise<Secret | undefined>;
  /** Services of a namespace; undefined = not yet synced (PL-ENV-8). */
  listServices(ns: string): Service[] | undefined;
  nodeName: string;
  hostIPs: string[];
  podIPs: string[];
  /** Node allocatable; `cpu` in cores. Used for unset limits in resourceFieldRef (PL-ENV-6). */
  nodeAllocatable: { cpu: number; memoryBytes: number; ephemeralStorageBytes: number };
}

/**
 * A container configuration problem. The kubelet reports it as Waiting
 * `CreateContainerConfigError` with this message and a Warning `Failed` `Error: <message>`.
 */
export class ContainerConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ContainerConfigError";
  }
}

/** One environment variable as handed to the runtime. */
export interface EnvPair {
  name: string;
  value: string;
}

/**
 * Expands `$(VAR)` references in `s` exactly like upstream's forked `expansion.Expand`
 * (PL-ENV-2): defined names are replaced, undefined ones stay as `$(NAME)`, `$$` is a literal
 * `$`, any other `$x` and an unterminated `$(` stay as written; the result is not rescanned.
 */
export function expandVars(s: string, vars: Map<string, string>): string {
  let out = "";
  let checkpoint = 0;
  for (let cursor = 0; cursor < s.length; cursor++) {
    if (s[cursor] !== "$" || cursor + 1 >= s.length) continue;
    out += s.slice(checkpoint, cursor);
    const next = s[cursor + 1];
    if (next === "$") {
      out += "$";
      cursor += 1;
    } else if (next === "(") {
      const close = s.indexOf(")", cursor + 2);
      if (close === -1) {
        // Incomplete reference: emit "$(" and keep scanning after it.
        out += "$(";
        cursor += 1;
      } else {
        const name = s.slice(cursor + 2, close);
        const value = vars.get(name);
        out += value ?? `$(${name})`;
        cursor = close;
      }
    } else {
      out += "$" + (next ?? "");
      cursor += 1;
    }
    checkpoint = cursor + 1;
  }
  return out + s.slice(checkpoint);
}

function isStaticPod(pod: Pod): boolean {
  const source = pod.metadata.annotations?.["kubernetes.io/config.source"];
  return source !== undefined && source !== "api";
}

function envName(s: string): string {
  return s.toUpperCase().replaceAll("-", "_");
}

function isServiceIPSet(svc: Service): boolean {
  const ip = svc.spec?.clusterIP;
  return ip !== undefined && ip !== "" && ip !== "None";
}

function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The link variables of one Service (upstream `envvars.FromServices`, PL-ENV-7). */
export function serviceEnv(svc: Service): EnvPair[] {
  const ip = svc.spec?.clusterIP ?? "";
  const ports = svc.spec?.ports ?? [];
  const first = ports[0];
  if (first === undefined) return [];
  const prefix = envName(svc.metadata.name ?? "");
  const out: EnvPair[] = [
    { name: `${prefix}_SERVICE_HOST`, value: ip },
    { name: `${prefix}_SERVICE_PORT`, value: String(first.port) },
  ];
  for (const p of ports) {
    if (p.name !== undefined && p.name !== "") {
      out.push({ name: `${prefix}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
    }
  }
  ports.forEach((p, i) => {
    const proto = p.protocol ?? "TCP";
    const url = `${proto.toLowerCase()}://${joinHostPort(ip, p.port)}`;
    if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
    const pp = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.push(
      { name: pp, value: url },
      { name: `${pp}_PROTO`, value: proto.toLowerCase() },
      { name: `${pp}_PORT`, value: String(p.port) },
      { name: `${pp}_ADDR`, value: ip },
    );
  });
  return out;
}

/** Service variables for the pod, sorted by name (PL-ENV-7, PL-ENV-8). */
function serviceVariables(pod: Pod, deps: EnvDeps): Map<string, string> {
  const ns = pod.metadata.namespace ?? "default";
  const enableLinks = pod.spec.enableServiceLinks ?? true;
  const own = deps.listServices(ns);
  const dflt = ns === "default" ? own : deps.listServices("default");
  if ((own === undefined || dflt === undefined) && !isStaticPod(pod)) {
    throw new ContainerConfigError(
      "services have not yet been read at least once, cannot construct envvars",
    );
  }
  const byName = new Map<string, Service>();
  if (enableLinks) {
    for (const svc of own ?? []) {
      if (isServiceIPSet(svc)) byName.set(svc.metadata.name ?? "", svc);
    }
  }
  // The master service is always visible, unless the pod's namespace has its own of that name.
  for (const svc of dflt ?? []) {
    if (svc.metadata.name === "kubernetes" && isServiceIPSet(svc) && !byName.has("kubernetes")) {
      byName.set("kubernetes", svc);
    }
  }
  const vars = new Map<string, string>();
  for (const name of [...byName.keys()].sort()) {
    const svc = byName.get(name);
    if (svc === undefined) continue;
    for (const { name: n, value } of serviceEnv(svc)) vars.set(n, value);
  }
  return new Map([...vars.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function decodeSecretData(secret: Secret): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out.set(k, v);
  for (const [k, v] of Object.entries(secret.data ?? {})) {
    out.set(k, Buffer.from(v, "base64").toString("utf8"));
  }
  return out;
}

/** Go's %q for the characters that appear in label and annotation values. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + cp.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}

/** `k="v"` lines sorted by key, no trailing newline (upstream `fieldpath.FormatMap`). */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${goQuote(m?.[k] ?? "")}`)
    .join("\n");
}

/**
 * The value of a downward-API `fieldPath` for metadata fields (upstream
 * `fieldpath.ExtractFieldPathAsString`). Throws ContainerConfigError for unsupported paths.
 */
export function extractMetadataField(pod: Pod, fieldPath: string): string {
  const md = pod.metadata;
  const sub = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (sub !== null) {
    const map = sub[1] === "labels" ? md.labels : md.annotations;
    return map?.[sub[2] ?? ""] ?? "";
  }
  switch (fieldPath) {
    case "metadata.name":
      return md.name ?? "";
    case "metadata.namespace":
      return md.namespace ?? "";
    case "metadata.uid":
      return md.uid ?? "";
    case "metadata.labels":
      return formatMap(md.labels);
    case "metadata.annotations":
      return formatMap(md.annotations);
    default:
      throw new ContainerConfigError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/** The value of an env `fieldRef` (upstream `podFieldSelectorRuntimeValue`, PL-ENV-6). */
export function fieldRefValue(pod: Pod, fieldPath: string, deps: EnvDeps): string {
  switch (fieldPath) {
    case "spec.nodeName":
      return pod.spec.nodeName ?? deps.nodeName;
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "";
    case "status.hostIP":
      return deps.hostIPs[0] ?? "";
    case "status.hostIPs":
      return deps.hostIPs.join(",");
    case "status.podIP":
      return deps.podIPs[0] ?? "";
    case "status.podIPs":
      return deps.podIPs.join(",");
    default:
      return extractMetadataField(pod, fieldPath);
  }
}

/**
 * The value of a `resourceFieldRef` (upstream `ExtractContainerResourceValue`): ceil(value /
 * divisor), an unset limit resolving to node allocatable (PL-ENV-6).
 */
export function resourceFieldValue(
  container: Container,
  ref: NonNullable<EnvVarSource["resourceFieldRef"]>,
  allocatable: EnvDeps["nodeAllocatable"],
): string {
  const divisor = ref.divisor === undefined || quantityValue(ref.divisor) === 0 ? "1" : ref.divisor;
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const [kind, ...rest] = ref.resource.split(".");
  const res = rest.join(".");
  const alloc: Record<string, string | number> = {
    cpu: allocatable.cpu,
    memory: allocatable.memoryBytes,
    "ephemeral-storage": allocatable.ephemeralStorageBytes,
  };
  let q: string | number | undefined;
  if (kind === "limits") q = limits[res] ?? alloc[res];
  else if (kind === "requests") q = requests[res] ?? (res.startsWith("hugepages-") ? undefined : 0);
  const known = res === "cpu" || res === "memory" || res === "ephemeral-storage";
  if ((kind !== "limits" && kind !== "requests") || (!known && !res.startsWith("hugepages-"))) {
    throw new ContainerConfigError(`unsupported container resource : ${ref.resource}`);
  }
  q ??= 0;
  if (res === "cpu") return String(Math.ceil(milliValue(q) / milliValue(divisor)));
  return String(Math.ceil(intValue(q) / intValue(divisor)));
}

/**
 * Resolves the container's final environment (PL-ENV-3..8): envFrom sources in order (with
 * prefixes), then `env` entries in order (`$(VAR)` over envFrom keys, earlier entries and
 * service variables), then service variables not already defined. The order is deterministic
 * (PL-ENV-4). Throws ContainerConfigError with the upstream message for missing objects/keys
 * and unsynced services; failures of the deps getters are wrapped in one.
 */
export async function resolveContainerEnv(
  pod: Pod,
  container: Container,
  deps: EnvDeps,
): Promise<EnvPair[]> {
  const ns = pod.metadata.namespace ?? "default";
  const svcVars = serviceVariables(pod, deps);
  const configMaps = new Map<string, ConfigMap | undefined>();
  const secrets = new Map<string, Map<string, string> | undefined>();
  const getConfigMap = async (name: string): Promise<ConfigMap | undefined> => {
    if (!configMaps.has(name)) configMaps.set(name, await wrap(deps.getConfigMap(ns, name)));
    return configMaps.get(name);
  };
  const getSecret = async (name: string): Promise<Map<string, string> | undefined> => {
    if (!secrets.has(name)) {
      const s = await wrap(deps.getSecret(ns, name));
      secrets.set(name, s === undefined ? undefined : decodeSecretData(s));
    }
    return secrets.get(name);
  };

  // Map insertion order gives "position of first definition" (PL-ENV-4).
  const env = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    if (from.configMapRef !== undefined) {
      const cm = await getConfigMap(from.configMapRef.name);
      if (cm === undefined) {
        if (from.configMapRef.optional === true) continue;
        throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const k of Object.keys(cm.data ?? {}).sort()) env.set(prefix + k, cm.data?.[k] ?? "");
    } else if (from.secretRef !== undefined) {
      const data = await getSecret(from.secretRef.name);
      if (data === undefined) {
        if (from.secretRef.optional === true) continue;
        throw new ContainerConfigError(`secret "${from.secretRef.name}" not found`);
      }
      for (const k of [...data.keys()].sort()) env.set(prefix + k, data.get(k) ?? "");
    }
  }

  for (const ev of container.env ?? []) {
    let value = ev.value ?? "";
    if (value !== "") {
      value = expandVars(value, new LayeredMap(env, svcVars));
    } else if (ev.valueFrom !== undefined) {
      const vf = ev.valueFrom;
      if (vf.fieldRef !== undefined) {
        value = fieldRefValue(pod, vf.fieldRef.fieldPath, deps);
      } else if (vf.resourceFieldRef !== undefined) {
        const target =
          vf.resourceFieldRef.containerName !== undefined &&
          vf.resourceFieldRef.containerName !== ""
            ? findContainer(pod, vf.resourceFieldRef.containerName)
            : container;
        value = resourceFieldValue(target ?? container, vf.resourceFieldRef, deps.nodeAllocatable);
      } else if (vf.configMapKeyRef !== undefined) {
        const { name, key } = vf.configMapKeyRef;
        const optional = vf.configMapKeyRef.optional === true;
        const cm = await getConfigMap(name);
        if (cm === undefined) {
          if (optional) continue;
          throw new ContainerConfigError(`configmap "${name}" not found`);
        }
        const v = cm.data?.[key];
        if (v === undefined) {
          if (optional) continue;
          throw new ContainerConfigError(`couldn't find key ${key} in ConfigMap ${ns}/${name}`);
        }
        value = v;
      } else if (vf.secretKeyRef !== undefined) {
        const { name, key } = vf.secretKeyRef;
        const optional = vf.secretKeyRef.optional === true;
        const data = await getSecret(name);
        if (data === undefined) {
          if (optional) continue;
          throw new ContainerConfigError(`secret "${name}" not found`);
        }
        const v = data.get(key);
        if (v === undefined) {
          if (optional) continue;
          throw new ContainerConfigError(`couldn't find key ${key} in Secret ${ns}/${name}`);
        }
        value = v;
      }
    }
    env.set(ev.name, value);
  }

  const out: EnvPair[] = [...env].map(([name, value]) => ({ name, value }));
  for (const [name, value] of svcVars) {
    if (!env.has(name)) out.push({ name, value });
  }
  return out;
}

async function wrap<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ContainerConfigError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new ContainerConfigError(msg, { cause: err });
  }
}

function findContainer(pod: Pod, name: string): Container | undefined {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name);
}

/** A read-only view that looks names up in `first`, then `second` (upstream MappingFuncFor). */
class LayeredMap extends Map<string, string> {
  readonly #first: Map<string, string>;
  readonly #second: Map<string, string>;
  constructor(first: Map<string, string>, second: Map<string, string>) {
    super();
    this.#first = first;
    this.#second = second;
  }
  override get(key: string): string | undefined {
    return this.#first.get(key) ?? this.#second.get(key);
  }
  override has(key: string): boolean {
    return this.#first.has(key) || this.#second.has(key);
  }
}

/**
 * The process argv (PL-ENV-1): `command`/`args` with `$(VAR)` expanded from `env`, falling
 * back to the image's Entrypoint/Cmd per the table (an empty list counts as unset, like the
 * CRI runtimes). May be empty; the caller reports `no command specified`.
 */
export function containerArgv(container: Container, image: ImageConfig, env: EnvPair[]): string[] {
  const vars = new Map(env.map((e) => [e.name, e.value]));
  const command = (container.command ?? []).map((s) => expandVars(s, vars));
  let args = (container.args ?? []).map((s) => expandVars(s, vars));
  if (command.length === 0) {
    if (args.length === 0) args = image.cmd;
    return [...image.entrypoint, ...args];
  }
  return [...command, ...args];
}
