// Registry credentials for image pulls, matched as upstream's credentialprovider keyring does
// (pkg/credentialprovider): the pod's imagePullSecrets (`kubernetes.io/dockerconfigjson` and
// `kubernetes.io/dockercfg`) first, then the node's docker config file. Each credential that
// matches the image is tried in turn; with none the pull is anonymous.
import type { Secret } from "../api/index.js";
import type { AuthConfig } from "../runtime/index.js";

/** `.dockercfg` shape: registry location → entry (`.dockerconfigjson` wraps it in `auths`). */
export type DockerConfig = Record<string, DockerConfigEntry>;

/** One entry of a docker config file. */
export interface DockerConfigEntry {
  username?: string;
  password?: string;
  /** base64 `user:password`, used when username/password are absent. */
  auth?: string;
  identitytoken?: string;
  registrytoken?: string;
}

const DEFAULT_REGISTRY_HOST = "index.docker.io";

/**
 * Credentials indexed by schemeless location (`host[:port][/path]`), looked up by image
 * repository. Locations are tried most specific first (upstream sorts its index in reverse).
 */
export class DockerKeyring {
  readonly #creds = new Map<string, AuthConfig[]>();

  /** A keyring of one docker config (`.dockercfg` form; unwrap `auths` first). */
  static of(config: DockerConfig): DockerKeyring {
    const k = new DockerKeyring();
    k.add(config);
    return k;
  }

  /** Adds every entry of `config`; unparsable locations are ignored as upstream does. */
  add(config: DockerConfig): void {
    for (const [loc, entry] of Object.entries(config)) {
      const key = locationKey(loc);
      if (key === undefined) continue;
      const list = this.#creds.get(key) ?? [];
      list.push(toAuthConfig(entry));
      this.#creds.set(key, list);
    }
  }

  /**
   * The credentials for `repository` (normalised, without tag or digest, e.g.
   * `docker.io/library/busybox`), most specific location first; empty when none matches.
   */
  lookup(repository: string): AuthConfig[] {
    const out: AuthConfig[] = [];
    for (const key of [...this.#creds.keys()].sort().reverse()) {
      if (urlsMatch(key, repository)) out.push(...(this.#creds.get(key) ?? []));
    }
    if (out.length > 0) return out;
    if (isDefaultRegistryMatch(repository))
      return [...(this.#creds.get(DEFAULT_REGISTRY_HOST) ?? [])];
    return [];
  }
}

/**
 * Parses a pull secret into a docker config; `undefined` for other secret types or bad data
 * (upstream skips such secrets silently).
 */
export function dockerConfigOfSecret(secret: Secret): DockerConfig | undefined {
  const data = secret.data ?? {};
  try {
    if (secret.type === "kubernetes.io/dockerconfigjson") {
      const raw = data[".dockerconfigjson"];
      if (raw === undefined) return undefined;
      return dockerConfigOfJson(Buffer.from(raw, "base64").toString("utf8"));
    }
    if (secret.type === "kubernetes.io/dockercfg") {
      const raw = data[".dockercfg"];
      if (raw === undefined) return undefined;
      return asConfig(JSON.parse(Buffer.from(raw, "base64").toString("utf8")));
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Parses the text of a `config.json` (`{"auths": {...}}`). Throws SyntaxError on bad JSON. */
export function dockerConfigOfJson(text: string): DockerConfig {
  const doc = JSON.parse(text) as unknown;
  if (typeof doc !== "object" || doc === null) return {};
  return asConfig((doc as { auths?: unknown }).auths);
}

function asConfig(v: unknown): DockerConfig {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
  const out: DockerConfig = {};
  for (const [loc, e] of Object.entries(v as Record<string, unknown>)) {
    if (typeof e !== "object" || e === null) continue;
    const r = e as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof r[k] === "string" ? r[k] : undefined);
    const entry: DockerConfigEntry = {};
    for (const k of ["username", "password", "auth", "identitytoken", "registrytoken"] as const) {
      const s = str(k);
      if (s !== undefined) entry[k] = s;
    }
    out[loc] = entry;
  }
  return out;
}

function toAuthConfig(e: DockerConfigEntry): AuthConfig {
  let { username, password } = e;
  if ((username === undefined || username === "") && e.auth !== undefined && e.auth !== "") {
    const plain = Buffer.from(e.auth, "base64").toString("utf8");
    const i = plain.indexOf(":");
    if (i >= 0) {
      username = plain.slice(0, i);
      password = plain.slice(i + 1);
    }
  }
  const out: AuthConfig = {};
  if (username !== undefined) out.username = username;
  if (password !== undefined) out.password = password;
  if (e.identitytoken !== undefined) out.identityToken = e.identitytoken;
  if (e.registrytoken !== undefined) out.registryToken = e.registrytoken;
  return out;
}

/** `https://host:port/v1/path` → `host:port/path`; the `/v1/`, `/v2/` API prefixes drop out. */
function locationKey(loc: string): string | undefined {
  const withScheme = /^https?:\/\//.test(loc) ? loc : `https://${loc}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  let p = url.pathname;
  if (p.startsWith("/v1/") || p.startsWith("/v2/")) p = p.slice(3);
  // URL lower-cases the host; wildcards (`*.example.com`) survive as `%2A`.
  const host = url.host.replaceAll("%2A", "*");
  return p !== "" && p !== "/" ? host + p : host;
}

/** Upstream URLsMatch: same number of host labels, each a glob match; same port; path prefix. */
function urlsMatch(key: string, repository: string): boolean {
  const split = (s: string): { host: string; port: string; path: string } => {
    const slash = s.indexOf("/");
    const hostPort = slash < 0 ? s : s.slice(0, slash);
    const path = slash < 0 ? "" : s.slice(slash);
    const colon = hostPort.lastIndexOf(":");
    return colon < 0
      ? { host: hostPort, port: "", path }
      : { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1), path };
  };
  const g = split(key);
  const t = split(repository);
  const gl = g.host.toLowerCase().split(".");
  const tl = t.host.toLowerCase().split(".");
  if (gl.length !== tl.length) return false;
  if (!gl.every((part, i) => globMatch(part, tl[i] ?? ""))) return false;
  if (g.port !== t.port) return false;
  return t.path.startsWith(g.path);
}

/** A host label glob (`*` and `?`, as Go's filepath.Match within one label). */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".")}$`,
  );
  return re.test(s);
}

/** Upstream isDefaultRegistryMatch: the image is pulled from Docker Hub. */
function isDefaultRegistryMatch(repository: string): boolean {
  const slash = repository.indexOf("/");
  if (slash === 0) return false;
  if (slash < 0) return true;
  const first = repository.slice(0, slash);
  if (first === "docker.io" || first === DEFAULT_REGISTRY_HOST) return true;
  return !/[.:]/.test(first);
}

/**
 * Pulls with each credential in turn until one succeeds (upstream kuberuntime pullImage);
 * anonymously when there are none. Several failures are reported together as upstream's
 * aggregate error (`[first, second]`).
 */
export async function pullWithCredentials<T>(
  creds: readonly AuthConfig[],
  pull: (auth: AuthConfig | undefined) => Promise<T>,
): Promise<T> {
  if (creds.length === 0) return pull(undefined);
  const errors: unknown[] = [];
  for (const auth of creds) {
    try {
      return await pull(auth);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  const text = errors.map((e) => (e instanceof Error ? e.message : String(e)));
  throw new Error(`[${text.join(", ")}]`);
}
