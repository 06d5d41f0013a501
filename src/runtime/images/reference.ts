/**
 * Image reference parsing and normalization (PL-IMG-2), after
 * `github.com/distribution/reference` (`ParseNormalizedNamed`). runtime/ may not import api/,
 * so this is a small parser of its own.
 */

/** The default registry of unqualified names. */
export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
const MAX_NAME_LENGTH = 255;

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_RE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const ID_RE = /^[a-f0-9]{64}$/;

/** A parsed, normalized image reference. */
export interface ImageReference {
  /** Registry host (and port), e.g. `docker.io`, `localhost:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  path: string;
  /** Tag, when given (not defaulted). */
  tag?: string;
  /** `algorithm:hex`, when given. */
  digest?: string;
}

/**
 * Parses `s` the way `ParseNormalizedNamed` does: adds `docker.io/` to names without a registry
 * host and `library/` to single-segment docker.io names. Does not add a default tag.
 * Throws RangeError (`invalid reference format: …`) for anything that is not a reference,
 * including upper-case repository names and bare 64-hex ids.
 */
export function parseReference(s: string): ImageReference {
  if (s === "") throw new RangeError("invalid reference format: empty reference");
  if (ID_RE.test(s)) {
    throw new RangeError(
      `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`,
    );
  }
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new RangeError(`invalid reference format: ${s}`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new RangeError(`invalid reference format: ${s}`);
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    const isHost = /[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first;
    if (isHost) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  if (!DOMAIN_RE.test(domain)) throw new RangeError(`invalid reference format: ${s}`);
  if (!PATH_RE.test(path)) {
    if (PATH_RE.test(path.toLowerCase())) {
      throw new RangeError(`invalid reference format: repository name (${path}) must be lowercase`);
    }
    throw new RangeError(`invalid reference format: ${s}`);
  }
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw new RangeError(
      `invalid reference format: repository name must not be more than 255 characters`,
    );
  }
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `domain/path`, e.g. `docker.io/library/busybox`. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full string form: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/**
 * Parses and normalizes `s`, adding tag `latest` when neither tag nor digest is given
 * (PL-IMG-2): `busybox` → `docker.io/library/busybox:latest`. Throws RangeError when invalid.
 */
export function normalizeReference(s: string): ImageReference {
  const ref = parseReference(s);
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = "latest";
  return ref;
}

/** True for a bare image id: `sha256:<64 hex>` or `<64 hex>`. */
export function isImageId(s: string): boolean {
  return ID_RE.test(s) || (s.startsWith("sha256:") && ID_RE.test(s.slice(7)));
}
