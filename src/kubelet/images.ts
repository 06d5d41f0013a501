import {
  isInvalidImageReference,
  normalizeImageReference,
  parseImageReference,
  type ImageReference,
} from "../api/index.js";

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

/**
 * Parses and normalizes an image reference with api's parser (docker reference rules):
 * `docker.io/` and `library/` where Docker adds them, and `:latest` when neither tag nor
 * digest is given. Throws InvalidImageNameError with the parser's upstream text.
 */
export function parseImageRef(image: string): ImageRef {
  let r: ImageReference;
  try {
    r = parseImageReference(image);
  } catch (err) {
    if (isInvalidImageReference(err)) throw new InvalidImageNameError(image, err.message);
    throw err;
  }
  const tag = r.tag ?? (r.digest === undefined ? "latest" : undefined);
  return { normalized: normalizeImageReference(image), repository: r.name, tag, digest: r.digest };
}
