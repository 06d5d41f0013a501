/** A parsed image reference (docker/distribution `reference` semantics, PL-IMG-2). */
export interface ImageRef {
  /** `docker.io/library/nginx:latest` or `…@sha256:…` (tag `latest` added when absent). */
  normalized: string;
  /** Repository without tag/digest: `docker.io/library/nginx`. */
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

/** The image reference could not be parsed (Waiting `InvalidImageName`). */
export class InvalidImageNameError extends Error {
  constructor(image: string, detail: string) {
    super(
      `Failed to apply default image tag "${image}": couldn't parse image name "${image}": ${detail}`,
    );
    this.name = "InvalidImageNameError";
  }
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;

/**
 * Parses and normalizes an image reference: adds `docker.io/` and `library/` where Docker
 * does, and `:latest` when neither tag nor digest is given. Throws InvalidImageNameError
 * (e.g. for upper-case repository names).
 */
export function parseImageRef(image: string): ImageRef {
  if (image === "") throw new InvalidImageNameError(image, "invalid reference format");
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidImageNameError(image, "invalid reference format");
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidImageNameError(image, "invalid reference format");
  }
  const parts = rest.split("/");
  let host = "docker.io";
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    host = first;
    parts.shift();
    if (!HOST.test(host)) throw new InvalidImageNameError(image, "invalid reference format");
  }
  if (parts.length === 0) throw new InvalidImageNameError(image, "invalid reference format");
  const path = (host === "docker.io" && parts.length === 1 ? ["library", ...parts] : parts).join(
    "/",
  );
  for (const p of parts) {
    if (!COMPONENT.test(p)) {
      const lower = p.toLowerCase() !== p && COMPONENT.test(p.toLowerCase());
      throw new InvalidImageNameError(
        image,
        lower
          ? `invalid reference format: repository name (${path}) must be lowercase`
          : "invalid reference format",
      );
    }
  }
  if (host === "docker.io" && parts.length === 1) parts.unshift("library");
  const repository = `${host}/${parts.join("/")}`;
  if (tag === undefined && digest === undefined) tag = "latest";
  const normalized =
    repository + (tag !== undefined ? `:${tag}` : "") + (digest !== undefined ? `@${digest}` : "");
  return { normalized, repository, tag, digest };
}
