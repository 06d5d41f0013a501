import { timingSafeEqual } from "node:crypto";
import type { UserInfo } from "../../api/index.js";

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
    return Promise.resolve(hit === undefined ? undefined : structuredClone(hit[1]));
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
