/**
 * OCI distribution client: manifest and blob GETs with bearer-token and basic auth, mirrors and
 * plain-HTTP registries. Uses Node's global fetch.
 */
import type { Logger } from "../../util/index.js";
import { RuntimeError, isRuntimeError } from "../errors.js";
import type { AuthConfig } from "../types.js";
import {
  MANIFEST_ACCEPT,
  checkDigest,
  hostPlatform,
  manifestKind,
  parseIndex,
  selectPlatform,
  sha256Digest,
} from "./oci.js";
import { DEFAULT_DOMAIN, type ImageReference } from "./reference.js";

/** Registry settings of the node. */
export interface RegistryConfig {
  /**
   * Mirrors per registry host, tried in order before the registry itself, e.g.
   * `{ "docker.io": ["http://127.0.0.1:5000"] }`. The URL's scheme decides HTTP vs HTTPS.
   * @default {}
   */
  mirrors?: Record<string, string[]>;
  /** Registry hosts (`host:port`) spoken to over plain HTTP. @default [] */
  insecure?: string[];
}

/** One place to pull from. */
export interface RegistryEndpoint {
  /** Base URL without `/v2`, e.g. `https://registry-1.docker.io`. */
  baseUrl: string;
  isMirror: boolean;
}

/** A manifest as fetched: raw bytes, digest (verified when asked by digest) and media type. */
export interface FetchedManifest {
  data: Buffer;
  digest: string;
  mediaType: string;
}

const MAX_MANIFEST_BYTES = 4 << 20;
const UPSTREAM: Record<string, string> = { [DEFAULT_DOMAIN]: "registry-1.docker.io" };

/** Endpoints for `domain`: its mirrors in order, then the registry itself. */
export function registryEndpoints(domain: string, config: RegistryConfig): RegistryEndpoint[] {
  const out: RegistryEndpoint[] = [];
  for (const m of config.mirrors?.[domain] ?? []) {
    const u = new URL(m.includes("://") ? m : `https://${m}`);
    const path = u.pathname.replace(/\/+$/, "").replace(/\/v2$/, "");
    out.push({ baseUrl: `${u.protocol}//${u.host}${path}`, isMirror: true });
  }
  const host = UPSTREAM[domain] ?? domain;
  const scheme = (config.insecure ?? []).includes(domain) ? "http" : "https";
  out.push({ baseUrl: `${scheme}://${host}`, isMirror: false });
  return out;
}

/** Parses a `WWW-Authenticate` header: scheme plus parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*(.*)$/.exec(header);
  const params: Record<string, string> = {};
  if (m === null) return { scheme: "", params };
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  const rest = m[2] ?? "";
  for (let p = re.exec(rest); p !== null; p = re.exec(rest)) {
    const key = p[1];
    if (key !== undefined) params[key.toLowerCase()] = (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1");
  }
  return { scheme: (m[1] ?? "").toLowerCase(), params };
}

function basicCredentials(auth: AuthConfig | undefined): string | undefined {
  if (auth === undefined) return undefined;
  if (auth.username !== undefined && auth.username !== "") {
    return Buffer.from(`${auth.username}:${auth.password ?? ""}`).toString("base64");
  }
  if (auth.auth !== undefined && auth.auth !== "") return auth.auth;
  return undefined;
}

function httpError(what: string, status: number, url: string): RuntimeError {
  if (status === 404) return new RuntimeError("NotFound", `${what}: not found (${url})`);
  if (status === 401 || status === 403) {
    return new RuntimeError("Failed", `${what}: unauthorized: HTTP ${status} from ${url}`);
  }
  if (status >= 500) return new RuntimeError("Unavailable", `${what}: HTTP ${status} from ${url}`);
  return new RuntimeError("Failed", `${what}: HTTP ${status} from ${url}`);
}

async function readLimited(res: Response, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body === null) return Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await res.body.cancel();
      throw new RuntimeError("Failed", `${what}: larger than ${maxBytes} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/**
 * A conversation with one endpoint about one repository: remembers the auth scheme and token
 * learnt from the first 401. Calls may run concurrently (a second challenge just fetches
 * another token). Errors: RuntimeError NotFound (404), Failed (auth, digest, HTTP errors),
 * Unavailable (connection failures, 5xx). Aborting the signal rejects with its reason.
 */
export class RegistrySession {
  readonly endpoint: RegistryEndpoint;
  readonly #repository: string;
  readonly #auth: AuthConfig | undefined;
  readonly #fetch: typeof fetch;
  #authorization: string | undefined;

  constructor(
    endpoint: RegistryEndpoint,
    repository: string,
    auth: AuthConfig | undefined,
    fetchFn: typeof fetch,
  ) {
    this.endpoint = endpoint;
    this.#repository = repository;
    this.#auth = auth;
    this.#fetch = fetchFn;
    if (auth?.registryToken !== undefined && auth.registryToken !== "") {
      this.#authorization = `Bearer ${auth.registryToken}`;
    }
  }

  async #send(
    url: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    try {
      return await this.#fetch(url, { headers, redirect: "follow", ...(signal ? { signal } : {}) });
    } catch (err) {
      signal?.throwIfAborted();
      throw new RuntimeError("Unavailable", `registry ${this.endpoint.baseUrl} unreachable`, {
        cause: err,
      });
    }
  }

  /** GET `/v2/<repository>/<suffix>`, answering one auth challenge. */
  async get(suffix: string, accept: string | undefined, signal?: AbortSignal): Promise<Response> {
    const url = `${this.endpoint.baseUrl}/v2/${this.#repository}/${suffix}`;
    const headers = (): Record<string, string> => ({
      ...(accept === undefined ? {} : { Accept: accept }),
      ...(this.#authorization === undefined ? {} : { Authorization: this.#authorization }),
    });
    let res = await this.#send(url, headers(), signal);
    if (res.status === 401) {
      const challenge = res.headers.get("www-authenticate") ?? "";
      await res.body?.cancel();
      await this.#answerChallenge(challenge, signal);
      res = await this.#send(url, headers(), signal);
    }
    return res;
  }

  async #answerChallenge(header: string, signal?: AbortSignal): Promise<void> {
    const { scheme, params } = parseChallenge(header);
    const creds = basicCredentials(this.#auth);
    if (scheme === "basic") {
      if (creds === undefined) {
        throw new RuntimeError(
          "Failed",
          `registry ${this.endpoint.baseUrl}: authentication required`,
        );
      }
      this.#authorization = `Basic ${creds}`;
      return;
    }
    if (scheme !== "bearer" || params["realm"] === undefined) {
      throw new RuntimeError(
        "Failed",
        `registry ${this.endpoint.baseUrl}: unsupported authentication challenge ${JSON.stringify(header)}`,
      );
    }
    const realm = new URL(params["realm"]);
    const scope = params["scope"] ?? `repository:${this.#repository}:pull`;
    const service = params["service"];
    let res: Response;
    const identityToken = this.#auth?.identityToken;
    try {
      if (identityToken !== undefined && identityToken !== "") {
        // OAuth2 refresh-token grant, as docker does with an identity token.
        const form = new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: identityToken,
          client_id: "podrun",
          scope,
          ...(service === undefined ? {} : { service }),
        });
        res = await this.#fetch(realm, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: form.toString(),
          ...(signal ? { signal } : {}),
        });
      } else {
        if (service !== undefined) realm.searchParams.set("service", service);
        realm.searchParams.set("scope", scope);
        res = await this.#fetch(realm, {
          headers: creds === undefined ? {} : { Authorization: `Basic ${creds}` },
          ...(signal ? { signal } : {}),
        });
      }
    } catch (err) {
      signal?.throwIfAborted();
      throw new RuntimeError("Unavailable", `token endpoint ${realm.origin} unreachable`, {
        cause: err,
      });
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new RuntimeError(
        "Failed",
        `registry ${this.endpoint.baseUrl}: token request to ${realm.origin}${realm.pathname} failed: HTTP ${res.status}`,
      );
    }
    const body: unknown = JSON.parse((await readLimited(res, 1 << 20, "token")).toString("utf8"));
    const rec = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
    const token = rec["token"] ?? rec["access_token"];
    if (typeof token !== "string" || token === "") {
      throw new RuntimeError(
        "Failed",
        `registry ${this.endpoint.baseUrl}: token response has no token`,
      );
    }
    this.#authorization = `Bearer ${token}`;
  }

  /** Fetches the manifest `reference` (tag or digest); a digest reference is verified. */
  async manifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${this.#repository}:${reference}`;
    const res = await this.get(`manifests/${reference}`, MANIFEST_ACCEPT, signal);
    if (res.status !== 200) {
      await res.body?.cancel();
      throw httpError(what, res.status, this.endpoint.baseUrl);
    }
    const data = await readLimited(res, MAX_MANIFEST_BYTES, what);
    const digest = sha256Digest(data);
    if (reference.includes(":") && digest !== reference) {
      throw new RuntimeError(
        "Failed",
        `manifest ${reference}: digest mismatch (content is ${digest})`,
      );
    }
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    return { data, digest, mediaType };
  }

  /** Opens a blob download; the caller streams and verifies `res.body`. */
  async blob(digest: string, signal?: AbortSignal): Promise<Response> {
    const res = await this.get(`blobs/${checkDigest(digest, "blob")}`, undefined, signal);
    if (res.status !== 200) {
      await res.body?.cancel();
      throw httpError(`blob ${digest}`, res.status, this.endpoint.baseUrl);
    }
    return res;
  }
}

/**
 * Resolves `ref` on the first endpoint that answers: fetches its manifest and, for an index,
 * the host platform's manifest. Mirrors that fail are logged and skipped; the last error is
 * thrown when every endpoint failed.
 */
export async function resolveManifest(
  ref: ImageReference,
  opts: {
    config: RegistryConfig;
    logger: Logger;
    auth?: AuthConfig;
    signal?: AbortSignal;
    fetch?: typeof fetch;
  },
): Promise<{ session: RegistrySession; manifest: FetchedManifest }> {
  const reference = ref.digest ?? ref.tag ?? "latest";
  let lastErr: RuntimeError | undefined;
  for (const endpoint of registryEndpoints(ref.domain, opts.config)) {
    const session = new RegistrySession(endpoint, ref.path, opts.auth, opts.fetch ?? fetch);
    try {
      let manifest = await session.manifest(reference, opts.signal);
      if (manifestKind(manifest.data, manifest.mediaType) === "index") {
        const platform = hostPlatform();
        const chosen = selectPlatform(parseIndex(manifest.data), platform);
        if (chosen === undefined) {
          throw new RuntimeError(
            "NotFound",
            `no matching manifest for ${platform.os}/${platform.architecture} in the manifest list entries`,
          );
        }
        manifest = await session.manifest(chosen.digest, opts.signal);
        if (manifestKind(manifest.data, manifest.mediaType) !== "manifest") {
          throw new RuntimeError("Failed", `manifest ${chosen.digest}: nested index not supported`);
        }
      }
      return { session, manifest };
    } catch (err) {
      opts.signal?.throwIfAborted();
      if (!isRuntimeError(err)) throw err;
      lastErr = err;
      opts.logger.warn("registry endpoint failed", {
        endpoint: endpoint.baseUrl,
        err: err.message,
      });
    }
  }
  throw lastErr ?? new RuntimeError("Unavailable", `no endpoint for ${ref.domain}`);
}
