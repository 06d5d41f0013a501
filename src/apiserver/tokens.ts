import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";

/** Issuer (`iss`) and default audience of every service-account token podrun signs. */
export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";

/** Upstream's clock-skew allowance for `exp` and `nbf` (go-jose DefaultLeeway). */
export const TOKEN_LEEWAY_SECONDS = 60;

/** The private `kubernetes.io` claim of a bound service-account token. */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  secret?: { name: string; uid: string };
}

/** The claims of a service-account JWT, as upstream writes them. */
export interface ServiceAccountClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  "kubernetes.io": KubernetesClaim;
}

/** Why a token was refused (for logs; callers answer 401 whatever the reason). */
export type TokenRejection =
  "Malformed" | "BadSignature" | "WrongIssuer" | "Expired" | "NotYetValid" | "WrongAudience";

/** Outcome of {@link verifyServiceAccountJwt}. */
export type JwtVerification =
  { ok: true; claims: ServiceAccountClaims } | { ok: false; reason: TokenRejection };

/** `kid` of a public key: base64url SHA-256 of its DER SubjectPublicKeyInfo (upstream's keyIDFromPublicKey). */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64url");
}

function b64json(v: object): string {
  return Buffer.from(JSON.stringify(v)).toString("base64url");
}

/**
 * Signs service-account JWTs (RS256) with one private key. Stateless; safe for concurrent use.
 * Construction throws TypeError when the PEM is not an RSA private key.
 */
export class JwtSigner {
  readonly #key: KeyObject;
  readonly #kid: string;

  constructor(privateKeyPem: string) {
    this.#key = createPrivateKey(privateKeyPem);
    if (this.#key.asymmetricKeyType !== "rsa") {
      throw new TypeError(
        `service account key must be RSA, got ${String(this.#key.asymmetricKeyType)}`,
      );
    }
    this.#kid = keyIdOf(createPublicKey(this.#key));
  }

  /** The compact JWS of `claims` (header `{alg: RS256, kid}`). */
  sign(claims: ServiceAccountClaims): string {
    const input = `${b64json({ alg: "RS256", kid: this.#kid })}.${b64json(claims)}`;
    const sig = sign("sha256", Buffer.from(input), this.#key).toString("base64url");
    return `${input}.${sig}`;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJsonPart(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return isRecord(v) ? v : undefined;
  } catch {
    // Not base64url JSON: the caller reports the token as malformed.
    return undefined;
  }
}

function asNameUid(v: unknown): { name: string; uid: string } | undefined {
  if (!isRecord(v)) return undefined;
  const { name, uid } = v;
  return typeof name === "string" && typeof uid === "string" ? { name, uid } : undefined;
}

function parseClaims(p: Record<string, unknown>): ServiceAccountClaims | undefined {
  const { iss, sub, exp, iat, nbf, jti } = p;
  const audRaw = p["aud"];
  const aud = typeof audRaw === "string" ? [audRaw] : audRaw;
  const k = p["kubernetes.io"];
  if (
    typeof iss !== "string" ||
    typeof sub !== "string" ||
    typeof exp !== "number" ||
    !Array.isArray(aud) ||
    !aud.every((a) => typeof a === "string") ||
    !isRecord(k) ||
    typeof k["namespace"] !== "string"
  ) {
    return undefined;
  }
  const sa = asNameUid(k["serviceaccount"]);
  if (sa === undefined) return undefined;
  const claim: KubernetesClaim = { namespace: k["namespace"], serviceaccount: sa };
  const pod = asNameUid(k["pod"]);
  if (pod !== undefined) claim.pod = pod;
  const secret = asNameUid(k["secret"]);
  if (secret !== undefined) claim.secret = secret;
  return {
    iss,
    sub,
    aud,
    exp,
    iat: typeof iat === "number" ? iat : 0,
    nbf: typeof nbf === "number" ? nbf : 0,
    jti: typeof jti === "string" ? jti : "",
    "kubernetes.io": claim,
  };
}

/**
 * Checks a compact JWS: RS256 signature under `publicKey`, issuer {@link SERVICE_ACCOUNT_ISSUER},
 * `exp`/`nbf` against `nowMs` with {@link TOKEN_LEEWAY_SECONDS}, and that `aud` contains one of
 * `audiences`. Pure apart from the crypto; never throws for bad input.
 */
export function verifyServiceAccountJwt(
  token: string,
  publicKey: KeyObject,
  opts: { nowMs: number; audiences: readonly string[] },
): JwtVerification {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, reason: "Malformed" };
  const [h = "", p = "", s = ""] = parts;
  const header = parseJsonPart(h);
  if (header?.["alg"] !== "RS256") return { ok: false, reason: "Malformed" };
  let good: boolean;
  try {
    good = verify("sha256", Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, "base64url"));
  } catch {
    // A signature of the wrong size for the key: not ours.
    good = false;
  }
  if (!good) return { ok: false, reason: "BadSignature" };
  const raw = parseJsonPart(p);
  const claims = raw === undefined ? undefined : parseClaims(raw);
  if (claims === undefined) return { ok: false, reason: "Malformed" };
  if (claims.iss !== SERVICE_ACCOUNT_ISSUER) return { ok: false, reason: "WrongIssuer" };
  const nowS = opts.nowMs / 1000;
  if (nowS > claims.exp + TOKEN_LEEWAY_SECONDS) return { ok: false, reason: "Expired" };
  if (nowS < claims.nbf - TOKEN_LEEWAY_SECONDS) return { ok: false, reason: "NotYetValid" };
  if (!claims.aud.some((a) => opts.audiences.includes(a))) {
    return { ok: false, reason: "WrongAudience" };
  }
  return { ok: true, claims };
}

/** `system:serviceaccount:<ns>:<name>`. */
export function serviceAccountUsername(ns: string, name: string): string {
  return `system:serviceaccount:${ns}:${name}`;
}
