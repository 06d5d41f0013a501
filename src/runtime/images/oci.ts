/** OCI / Docker image format types, media types and checked parsers for untrusted JSON. */
import { createHash } from "node:crypto";
import { RuntimeError } from "../errors.js";
import type { ImageConfig } from "../types.js";

/** Media types this store understands. */
export const MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/** Accept header value for manifest requests: index and manifest types of both families. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(", ");

/** A content descriptor. `digest` has been checked by {@link checkDigest}. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** An image manifest (OCI or Docker v2 schema 2). */
export interface Manifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** An image index / manifest list. */
export interface ManifestIndex {
  mediaType: string;
  manifests: Descriptor[];
}

/** The parts of an image config file the store uses. */
export interface ImageConfigFile {
  architecture: string;
  os: string;
  diffIds: string[];
  config: ImageConfig;
}

const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

/**
 * Checks that `d` is a `sha256:<64 lowercase hex>` digest and returns it. Digests name files in
 * the content store, so this check is what keeps registry data from choosing paths.
 */
export function checkDigest(d: unknown, what: string): string {
  if (typeof d !== "string" || !SHA256_RE.test(d)) {
    throw new RuntimeError(
      "Failed",
      `${what}: unsupported or malformed digest ${JSON.stringify(d)}`,
    );
  }
  return d;
}

/** `sha256:<hex>` of `data`. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The hex part of a checked digest. */
export function digestHex(digest: string): string {
  return digest.slice("sha256:".length);
}

/** ChainIDs of a layer stack (OCI image spec): chain(0)=diff(0), chain(n)=sha256(chain(n-1)+" "+diff(n)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let prev: string | undefined;
  for (const d of diffIds) {
    prev = prev === undefined ? d : sha256Digest(`${prev} ${d}`);
    out.push(prev);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(what: string, detail: string): RuntimeError {
  return new RuntimeError("Failed", `${what}: ${detail}`);
}

function parseJson(data: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(data).toString("utf8"));
  } catch (err) {
    throw new RuntimeError("Failed", `${what}: invalid JSON`, { cause: err });
  }
  if (!isRecord(v)) throw bad(what, "not a JSON object");
  return v;
}

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

/** Checks one descriptor object. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v)) throw bad(what, "descriptor is not an object");
  const digest = checkDigest(v["digest"], what);
  const size = v["size"];
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw bad(what, `descriptor ${digest} has an invalid size`);
  }
  const mediaType = typeof v["mediaType"] === "string" ? v["mediaType"] : "";
  const d: Descriptor = { mediaType, digest, size };
  const p = v["platform"];
  if (isRecord(p) && typeof p["os"] === "string" && typeof p["architecture"] === "string") {
    d.platform = { os: p["os"], architecture: p["architecture"] };
    if (typeof p["variant"] === "string") d.platform.variant = p["variant"];
  }
  const annotations = stringRecord(v["annotations"]);
  if (annotations !== undefined) d.annotations = annotations;
  return d;
}

/** The kind of a manifest document, from its mediaType field or its shape. */
export function manifestKind(data: Uint8Array, headerType?: string): "index" | "manifest" {
  const v = parseJson(data, "manifest");
  const mt = typeof v["mediaType"] === "string" ? v["mediaType"] : (headerType ?? "");
  if (mt === MEDIA_TYPES.ociIndex || mt === MEDIA_TYPES.dockerList) return "index";
  if (mt === MEDIA_TYPES.ociManifest || mt === MEDIA_TYPES.dockerManifest) return "manifest";
  if (Array.isArray(v["manifests"])) return "index";
  if (Array.isArray(v["layers"])) return "manifest";
  throw bad("manifest", `unsupported media type ${JSON.stringify(mt)}`);
}

/** Parses an image index / manifest list. */
export function parseIndex(data: Uint8Array): ManifestIndex {
  const v = parseJson(data, "image index");
  const list = v["manifests"];
  if (!Array.isArray(list)) throw bad("image index", "manifests is not a list");
  return {
    mediaType: typeof v["mediaType"] === "string" ? v["mediaType"] : MEDIA_TYPES.ociIndex,
    manifests: list.map((d, i) => parseDescriptor(d, `image index manifests[${i}]`)),
  };
}

/** Parses an image manifest. */
export function parseManifest(data: Uint8Array): Manifest {
  const v = parseJson(data, "image manifest");
  if (v["schemaVersion"] !== 2) throw bad("image manifest", "schemaVersion is not 2");
  const layers = v["layers"];
  if (!Array.isArray(layers)) throw bad("image manifest", "layers is not a list");
  return {
    mediaType: typeof v["mediaType"] === "string" ? v["mediaType"] : MEDIA_TYPES.ociManifest,
    config: parseDescriptor(v["config"], "image manifest config"),
    layers: layers.map((d, i) => parseDescriptor(d, `image manifest layers[${i}]`)),
  };
}

/** Parses an image config file (PL-IMG-8 fields plus the rootfs diff ids). */
export function parseImageConfig(data: Uint8Array): ImageConfigFile {
  const v = parseJson(data, "image config");
  const rootfs = v["rootfs"];
  if (!isRecord(rootfs) || !Array.isArray(rootfs["diff_ids"])) {
    throw bad("image config", "rootfs.diff_ids is missing");
  }
  const diffIds = rootfs["diff_ids"].map((d, i) => checkDigest(d, `image config diff_ids[${i}]`));
  const c = isRecord(v["config"]) ? v["config"] : {};
  const str = (k: string): string => (typeof c[k] === "string" ? c[k] : "");
  return {
    architecture: typeof v["architecture"] === "string" ? v["architecture"] : "",
    os: typeof v["os"] === "string" ? v["os"] : "",
    diffIds,
    config: {
      entrypoint: stringArray(c["Entrypoint"]),
      cmd: stringArray(c["Cmd"]),
      env: stringArray(c["Env"]),
      workingDir: str("WorkingDir"),
      user: str("User"),
      stopSignal: str("StopSignal"),
      exposedPorts: isRecord(c["ExposedPorts"]) ? Object.keys(c["ExposedPorts"]).sort() : [],
    },
  };
}

/** The OCI platform of this host (`linux/amd64` on x86-64). */
export function hostPlatform(): { os: string; architecture: string } {
  const archMap: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386" };
  return { os: "linux", architecture: archMap[process.arch] ?? process.arch };
}

/** Picks the manifest for `platform` from an index; entries without a platform match too. */
export function selectPlatform(
  index: ManifestIndex,
  platform: { os: string; architecture: string },
): Descriptor | undefined {
  const manifests = index.manifests.filter(
    (d) => d.mediaType !== "application/vnd.oci.empty.v1+json",
  );
  return (
    manifests.find(
      (d) => d.platform?.os === platform.os && d.platform.architecture === platform.architecture,
    ) ?? manifests.find((d) => d.platform === undefined)
  );
}
