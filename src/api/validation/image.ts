/** A parsed, normalized image reference (distribution/reference `ParseNormalizedNamed`). */
export interface ImageReference {
  /** Registry host, `docker.io` when the reference names none. */
  domain: string;
  /** Repository path inside the registry (`library/nginx`). */
  path: string;
  /** `<domain>/<path>`. */
  name: string;
  tag?: string;
  /** `<algorithm>:<hex>`. */
  digest?: string;
}

/** An image reference that cannot be parsed; the message is upstream's error text. */
export class InvalidImageReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidImageReferenceError";
  }
}

/** True if `err` is an InvalidImageReferenceError. */
export function isInvalidImageReference(err: unknown): err is InvalidImageReferenceError {
  return err instanceof InvalidImageReferenceError;
}

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const ANCHORED_ID_RE = /^[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;
const DEFAULT_DOMAIN = "docker.io";

/** Splits a name into registry and remainder, as distribution's splitDockerDomain does. */
function splitDockerDomain(name: string): [string, string] {
  const i = name.indexOf("/");
  const first = i < 0 ? "" : name.slice(0, i);
  let domain: string;
  let remainder: string;
  if (i < 0 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = `library/${remainder}`;
  return [domain, remainder];
}

/**
 * Parses an image reference the way the kubelet does (PL-IMG-2): a missing registry becomes
 * `docker.io`, single-segment docker.io names get `library/`. Tag and digest are kept as
 * written (no `latest` is added here). Throws InvalidImageReferenceError with upstream's text,
 * e.g. `invalid reference format: repository name (library/Nginx) must be lowercase`.
 */
export function parseImageReference(ref: string): ImageReference {
  if (ANCHORED_ID_RE.test(ref)) {
    throw new InvalidImageReferenceError(
      `invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`,
    );
  }
  const [domain, remainder] = splitDockerDomain(ref);
  const tagSep = remainder.indexOf(":");
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw new InvalidImageReferenceError(
      `invalid reference format: repository name (${remote}) must be lowercase`,
    );
  }
  const full = `${domain}/${remainder}`;
  const m = REFERENCE_RE.exec(full);
  if (m === null) {
    if (ref === "") {
      throw new InvalidImageReferenceError("repository name must have at least one component");
    }
    if (REFERENCE_RE.test(full.toLowerCase())) {
      throw new InvalidImageReferenceError("repository name must be lowercase");
    }
    throw new InvalidImageReferenceError("invalid reference format");
  }
  const name = m[1] ?? "";
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw new InvalidImageReferenceError(
      `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`,
    );
  }
  const digest = m[3];
  if (digest !== undefined) {
    const [alg, hex] = digest.split(":") as [string, string];
    if (alg === "sha256" && hex.length !== 64) {
      throw new InvalidImageReferenceError("invalid checksum digest length");
    }
    if (alg === "sha512" && hex.length !== 128) {
      throw new InvalidImageReferenceError("invalid checksum digest length");
    }
    if (alg !== "sha256" && alg !== "sha512" && alg !== "sha384") {
      throw new InvalidImageReferenceError("unsupported digest algorithm");
    }
  }
  const slash = name.indexOf("/");
  const out: ImageReference = {
    domain: name.slice(0, slash),
    path: name.slice(slash + 1),
    name,
  };
  if (m[2] !== undefined) out.tag = m[2];
  if (digest !== undefined) out.digest = digest;
  return out;
}

/**
 * The normalized reference the kubelet hands to the runtime (PL-IMG-2): `nginx` →
 * `docker.io/library/nginx:latest`; a digest-only reference keeps no tag
 * (`docker.io/library/nginx@sha256:…`). Throws InvalidImageReferenceError like
 * parseImageReference.
 */
export function normalizeImageReference(ref: string): string {
  const r = parseImageReference(ref);
  const tag = r.tag ?? (r.digest === undefined ? "latest" : undefined);
  return `${r.name}${tag === undefined ? "" : `:${tag}`}${r.digest === undefined ? "" : `@${r.digest}`}`;
}

/**
 * The tag PL-IMG-1 defaulting looks at: the written tag, `latest` when neither tag nor digest
 * is given, `""` for digest-only or unparseable references.
 */
export function imageTagForDefaulting(ref: string): string {
  try {
    const r = parseImageReference(ref);
    return r.tag ?? (r.digest === undefined ? "latest" : "");
  } catch (err) {
    // Unparseable images default like digest-only ones; validation/kubelet report the name.
    if (isInvalidImageReference(err)) return "";
    throw err;
  }
}
