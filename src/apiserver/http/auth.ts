import { createPublicKey, timingSafeEqual, type KeyObject } from "node:crypto";
import type { UserInfo } from "../../api/index.js";
import type { Clock } from "../../util/index.js";
import {
  SERVICE_ACCOUNT_ISSUER,
  serviceAccountUsername,
  verifyServiceAccountJwt,
} from "../tokens.js";

/**
 * Maps a bearer token to a user. Implementations: a static token table
 * ({@link StaticTokenVerifier}), later service-account JWTs. Safe for concurrent use.
 * Resolves undefined for a token it does not recognise; rejects only on internal failure.
 */
export interface TokenVerifier {
  verify(token: string): Promise<UserInfo | undefined>;
}

/** A fixed token → user table (the admin token, agent tokens). */
export class StaticTokenVerifier implements TokenVerifier {
  readonly #tokens: [Buffer, UserInfo][];

  constructor(tokens: Record<string, UserInfo> | Map<string, UserInfo>) {
    const entries = tokens instanceof Map ? [...tokens] : Object.entries(tokens);
    this.#tokens = entries.map(([t, u]) => [Buffer.from(t), u]);
  }

  verify(token: string): Promise<UserInfo | undefined> {
    const got = Buffer.from(token);
    // Constant-time comparison so response timing does not leak token prefixes.
    const hit = this.#tokens.find(([t]) => t.length === got.length && timingSafeEqual(t, got));
    if (hit === undefined) return Promise.resolve(undefined);
    // A private copy per request, as the table's entry must never change.
    const user = hit[1];
    return Promise.resolve({ ...user, groups: [...user.groups] });
  }
}

/**
 * Reads the objects a service-account token is bound to, injected by `cmd/` (through the
 * in-process client) so that http/ does not reach into the registry. Each method resolves
 * the object's uid, or undefined when it does not exist; rejects only on internal failure.
 */
export interface ServiceAccountTokenLookup {
  serviceAccountUid(ns: string, name: string): Promise<string | undefined>;
  podUid(ns: string, name: string): Promise<string | undefined>;
  secretUid?(ns: string, name: string): Promise<string | undefined>;
}

/** Options of {@link ServiceAccountTokenVerifier}. */
export interface ServiceAccountTokenVerifierOptions {
  /** PEM public key (SPKI) or private key matching the signing key. */
  publicKeyPem: string;
  lookup: ServiceAccountTokenLookup;
  clock: Clock;
  /** Audiences this API server accepts. @default [SERVICE_ACCOUNT_ISSUER] */
  audiences?: readonly string[];
}

/**
 * Verifies podrun's service-account JWTs (upstream's bound token authenticator): RS256
 * signature, issuer, `exp`/`nbf`, audience, and that the ServiceAccount — and the pod or
 * secret the token is bound to — still exist with the uid recorded in the token. Resolves
 * `system:serviceaccount:<ns>:<name>` in groups `system:serviceaccounts`,
 * `system:serviceaccounts:<ns>` and `system:authenticated`; undefined for any other token.
 * Safe for concurrent use; rejects only when a lookup fails.
 */
export class ServiceAccountTokenVerifier implements TokenVerifier {
  readonly #key: KeyObject;
  readonly #lookup: ServiceAccountTokenLookup;
  readonly #clock: Clock;
  readonly #audiences: readonly string[];

  constructor(opts: ServiceAccountTokenVerifierOptions) {
    this.#key = createPublicKey(opts.publicKeyPem);
    this.#lookup = opts.lookup;
    this.#clock = opts.clock;
    this.#audiences = opts.audiences ?? [SERVICE_ACCOUNT_ISSUER];
    if (this.#audiences.length === 0) throw new RangeError("audiences must not be empty");
  }

  async verify(token: string): Promise<UserInfo | undefined> {
    // Cheap pre-check: static tokens are not JWTs, and this verifier is tried for them too.
    if (token.split(".").length !== 3) return undefined;
    const r = verifyServiceAccountJwt(token, this.#key, {
      nowMs: this.#clock.now(),
      audiences: this.#audiences,
    });
    if (!r.ok) return undefined;
    const k = r.claims["kubernetes.io"];
    const ns = k.namespace;
    if (r.claims.sub !== serviceAccountUsername(ns, k.serviceaccount.name)) return undefined;
    const saUid = await this.#lookup.serviceAccountUid(ns, k.serviceaccount.name);
    if (saUid === undefined || saUid !== k.serviceaccount.uid) return undefined;
    if (k.pod !== undefined) {
      const uid = await this.#lookup.podUid(ns, k.pod.name);
      if (uid === undefined || uid !== k.pod.uid) return undefined;
    }
    if (k.secret !== undefined) {
      const uid = await this.#lookup.secretUid?.(ns, k.secret.name);
      if (uid === undefined || uid !== k.secret.uid) return undefined;
    }
    return {
      username: r.claims.sub,
      uid: saUid,
      groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
    };
  }
}

/** What authentication sees of a request. */
export interface AuthRequest {
  /** Lower-cased headers. */
  headers: Record<string, string | string[] | undefined>;
  /** True when the TLS client certificate chained to the configured CA. */
  clientCertVerified: boolean;
  /** Subject of the verified client certificate. */
  clientCertSubject?: { CN?: string | string[]; O?: string | string[] };
}

/** The outcome of authentication. */
export type AuthResult =
  { type: "user"; user: UserInfo } | { type: "anonymous" } | { type: "rejected" };

/**
 * Authenticates requests. Safe for concurrent use. A request with an Authorization header
 * whose token no verifier accepts is rejected (upstream answers 401 rather than falling back
 * to other credentials); with no credentials it is anonymous.
 */
export interface Authenticator {
  authenticate(req: AuthRequest): Promise<AuthResult>;
}

/** The user of anonymous requests, as upstream names it. */
export const ANONYMOUS_USER: UserInfo = {
  username: "system:anonymous",
  groups: ["system:unauthenticated"],
};

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Bearer tokens (through `TokenVerifier`s, tried in order) and verified client certificates. */
export class RequestAuthenticator implements Authenticator {
  readonly #verifiers: readonly TokenVerifier[];

  constructor(opts: { tokenVerifiers: readonly TokenVerifier[] }) {
    this.#verifiers = opts.tokenVerifiers;
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    const header = asList(req.headers["authorization"])[0];
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const token = m?.[1];
      if (token === undefined) return { type: "rejected" };
      for (const v of this.#verifiers) {
        const user = await v.verify(token);
        if (user !== undefined) return { type: "user", user: withAuthenticated(user) };
      }
      return { type: "rejected" };
    }
    if (req.clientCertVerified && req.clientCertSubject !== undefined) {
      const cn = asList(req.clientCertSubject.CN)[0];
      if (cn !== undefined && cn !== "") {
        return {
          type: "user",
          user: withAuthenticated({ username: cn, groups: asList(req.clientCertSubject.O) }),
        };
      }
    }
    return { type: "anonymous" };
  }
}

function withAuthenticated(user: UserInfo): UserInfo {
  const groups = user.groups.includes("system:authenticated")
    ? user.groups
    : [...user.groups, "system:authenticated"];
  return { ...user, groups };
}

/** Paths anonymous users may read (upstream's system:public-info-viewer and health checks). */
export function isPublicPath(path: string): boolean {
  return (
    /^\/(healthz|livez|readyz)(\/.*)?$/.test(path) || path === "/version" || path === "/version/"
  );
}
