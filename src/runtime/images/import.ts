/**
 * Reading image archives: an OCI image layout directory, an OCI archive (tar of a layout) and a
 * `docker save` archive (manifest.json + layer tars). Every blob is copied into the content
 * store with its digest verified; the caller turns the result into image records.
 */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, realpath, rm, stat } from "node:fs/promises";
import { join, posix, sep } from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tarStream from "tar-stream";
import type { Logger } from "../../util/index.js";
import { RuntimeError, isRuntimeError } from "../errors.js";
import { isErrno, type ContentStore } from "./content-store.js";
import {
  digestHex,
  hostPlatform,
  manifestKind,
  parseIndex,
  parseManifest,
  selectPlatform,
  sha256Digest,
  type Descriptor,
} from "./oci.js";
import { normalizeReference, type ImageReference } from "./reference.js";
import { entryComponents } from "./unpack.js";

/** One layer of an imported or pulled image, its blob already in the content store. */
export interface LayerBlob {
  digest: string;
  sizeBytes: number;
  mediaType: string;
}

/** An image whose manifest, config and layer blobs are in the content store. */
export interface StagedImage {
  /** Tagged references naming the image (may be empty). */
  names: ImageReference[];
  /** Manifest digest, when the source had a manifest (not for docker-save archives). */
  manifestDigest?: string;
  configDigest: string;
  layers: LayerBlob[];
}

const MAX_JSON_BYTES = 8 << 20;
const MAX_ALIAS_HOPS = 16;

/** A directory to read from, plus symlink aliases recorded while extracting an archive. */
class SourceDir {
  readonly #dir: string;
  readonly #aliases: Map<string, string>;

  constructor(dir: string, aliases: Map<string, string>) {
    this.#dir = dir;
    this.#aliases = aliases;
  }

  /** Host path of `rel`, refusing names that leave the directory (also through symlinks). */
  async resolve(rel: string): Promise<string> {
    let parts = entryComponents(rel);
    for (let hop = 0; ; hop++) {
      const key = parts.join("/");
      const target = this.#aliases.get(key);
      if (target === undefined) break;
      if (hop >= MAX_ALIAS_HOPS)
        throw new RuntimeError("Failed", `archive path ${rel}: too many links`);
      parts = entryComponents(target, rel);
    }
    const path = join(this.#dir, ...parts);
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw new RuntimeError("Failed", `archive has no file ${rel}`);
      throw err;
    }
    const root = await realpath(this.#dir);
    if (real !== root && !real.startsWith(root + sep)) {
      throw new RuntimeError("Failed", `archive path ${rel} points outside the archive`);
    }
    return real;
  }

  async exists(rel: string): Promise<boolean> {
    try {
      await this.resolve(rel);
      return true;
    } catch (err) {
      if (isRuntimeError(err, "Failed")) return false;
      throw err;
    }
  }

  async readJson(rel: string): Promise<Buffer> {
    const path = await this.resolve(rel);
    if ((await stat(path)).size > MAX_JSON_BYTES) {
      throw new RuntimeError("Failed", `archive file ${rel} is too large`);
    }
    return readFile(path);
  }
}

/** Extracts regular files of a (possibly gzipped) tar into `dest`; symlinks become aliases. */
async function extractArchive(
  archive: string,
  dest: string,
  signal: AbortSignal | undefined,
): Promise<Map<string, string>> {
  const aliases = new Map<string, string>();
  const fh = await open(archive, "r");
  let isGzip: boolean;
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await fh.read(magic, 0, 2, 0);
    isGzip = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await fh.close();
  }
  const extract = tarStream.extract();
  let pipeErr: unknown;
  const piped = pipeline(
    createReadStream(archive),
    isGzip ? createGunzip() : new PassThrough(),
    extract,
    signal === undefined ? {} : { signal },
  ).catch((err: unknown) => {
    pipeErr = err;
  });
  let entryErr: unknown;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const parts = entryComponents(h.name);
      if (parts.length === 0 || (h.type !== "file" && h.type !== "symlink")) {
        entry.resume();
        continue;
      }
      if (h.type === "symlink") {
        entry.resume();
        // Archive symlinks (docker save links duplicate layers) resolve relative to their dir.
        const linkname = (h.linkname as string | null) ?? "";
        const target = posix.normalize(posix.join(posix.dirname(parts.join("/")), linkname));
        aliases.set(parts.join("/"), target);
        continue;
      }
      let dir = dest;
      for (const p of parts.slice(0, -1)) {
        dir = join(dir, p);
        await mkdir(dir, { recursive: true });
      }
      // A repeated name replaces the earlier entry, as tar does.
      await rm(join(dest, ...parts), { recursive: true, force: true });
      const out = await open(join(dest, ...parts), "wx", 0o600);
      try {
        for await (const chunk of entry) await out.write(chunk as Buffer);
      } finally {
        await out.close();
      }
    }
  } catch (err) {
    entryErr = err;
    extract.destroy();
  }
  await piped;
  if (entryErr !== undefined) {
    if (isRuntimeError(entryErr)) throw entryErr;
    throw new RuntimeError("Failed", `read archive ${archive}`, { cause: entryErr });
  }
  if (pipeErr !== undefined) {
    signal?.throwIfAborted();
    throw new RuntimeError("Failed", `read archive ${archive}`, { cause: pipeErr });
  }
  return aliases;
}

function namesFromAnnotations(d: Descriptor, logger: Logger): ImageReference[] {
  const a = d.annotations ?? {};
  const full = a["io.containerd.image.name"];
  const refName = a["org.opencontainers.image.ref.name"];
  // A bare ref.name ("1.28") is only a tag; without io.containerd.image.name it names no repo.
  const candidate = full ?? (refName?.includes("/") ? refName : undefined);
  if (candidate === undefined) return [];
  try {
    const ref = normalizeReference(candidate);
    return ref.tag === undefined ? [] : [{ domain: ref.domain, path: ref.path, tag: ref.tag }];
  } catch (err) {
    logger.warn("ignoring invalid image name in archive", { name: candidate, err });
    return [];
  }
}

async function stageBlob(
  src: SourceDir,
  content: ContentStore,
  d: Descriptor,
  signal: AbortSignal | undefined,
): Promise<void> {
  const path = await src.resolve(`blobs/sha256/${digestHex(d.digest)}`);
  await content.writeFile(path, d.digest, {
    sizeBytes: d.size,
    ...(signal === undefined ? {} : { signal }),
  });
}

async function readOciLayout(
  src: SourceDir,
  content: ContentStore,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<StagedImage[]> {
  const byManifest = new Map<string, { d: Descriptor; names: ImageReference[] }>();
  const platform = hostPlatform();
  const visit = async (d: Descriptor, names: ImageReference[], depth: number): Promise<void> => {
    if (depth > 4) throw new RuntimeError("Failed", "OCI layout: image indexes nested too deeply");
    if (
      d.platform !== undefined &&
      (d.platform.os !== platform.os || d.platform.architecture !== platform.architecture)
    ) {
      return;
    }
    const data = await src.readJson(`blobs/sha256/${digestHex(d.digest)}`);
    if (sha256Digest(data) !== d.digest) {
      throw new RuntimeError("Failed", `blob ${d.digest}: digest mismatch`);
    }
    if (manifestKind(data, d.mediaType) === "index") {
      const child = selectPlatform(parseIndex(data), platform);
      if (child !== undefined) await visit(child, names, depth + 1);
      return;
    }
    const entry = byManifest.get(d.digest) ?? { d, names: [] };
    entry.names.push(...names);
    byManifest.set(d.digest, entry);
  };
  const index = parseIndex(await src.readJson("index.json"));
  for (const d of index.manifests) await visit(d, namesFromAnnotations(d, logger), 0);

  const out: StagedImage[] = [];
  for (const { d, names } of byManifest.values()) {
    await stageBlob(src, content, d, signal);
    const manifest = parseManifest(await content.read(d.digest));
    await stageBlob(src, content, manifest.config, signal);
    for (const l of manifest.layers) await stageBlob(src, content, l, signal);
    out.push({
      names,
      manifestDigest: d.digest,
      configDigest: manifest.config.digest,
      layers: manifest.layers.map((l) => ({
        digest: l.digest,
        sizeBytes: l.size,
        mediaType: l.mediaType,
      })),
    });
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

async function readDockerArchive(
  src: SourceDir,
  content: ContentStore,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<StagedImage[]> {
  let list: unknown;
  try {
    list = JSON.parse((await src.readJson("manifest.json")).toString("utf8"));
  } catch (err) {
    if (isRuntimeError(err)) throw err;
    throw new RuntimeError("Failed", "docker archive: invalid manifest.json", { cause: err });
  }
  if (!Array.isArray(list))
    throw new RuntimeError("Failed", "docker archive: manifest.json is not a list");
  const sig = signal === undefined ? {} : { signal };
  const out: StagedImage[] = [];
  for (const item of list) {
    if (!isRecord(item) || typeof item["Config"] !== "string" || !Array.isArray(item["Layers"])) {
      throw new RuntimeError("Failed", "docker archive: malformed manifest.json entry");
    }
    const configDigest = await content.writeFile(await src.resolve(item["Config"]), undefined, sig);
    const layers: LayerBlob[] = [];
    for (const l of item["Layers"]) {
      if (typeof l !== "string") throw new RuntimeError("Failed", "docker archive: bad layer path");
      const path = await src.resolve(l);
      const digest = await content.writeFile(path, undefined, sig);
      layers.push({
        digest,
        sizeBytes: (await stat(path)).size,
        mediaType: "application/vnd.docker.image.rootfs.diff.tar",
      });
    }
    const names: ImageReference[] = [];
    const tags: unknown = item["RepoTags"];
    for (const t of Array.isArray(tags) ? tags : []) {
      if (typeof t !== "string") continue;
      try {
        const ref = normalizeReference(t);
        if (ref.tag !== undefined) names.push({ domain: ref.domain, path: ref.path, tag: ref.tag });
      } catch (err) {
        logger.warn("ignoring invalid repo tag in archive", { tag: t, err });
      }
    }
    out.push({ names, configDigest, layers });
  }
  return out;
}

/**
 * Reads the images in `path` (OCI layout directory, OCI archive, docker-save archive, either
 * tar optionally gzipped) into the content store. Tags come from the
 * `io.containerd.image.name` / `org.opencontainers.image.ref.name` annotations or RepoTags;
 * entries for other platforms are skipped. `tmpRoot` receives a scratch directory for archives,
 * removed before returning. Errors: RuntimeError NotFound (no such path), Failed (bad format,
 * digest mismatch, a path escaping the archive).
 */
export async function stageArchive(
  path: string,
  opts: { content: ContentStore; tmpRoot: string; logger: Logger; signal?: AbortSignal },
): Promise<StagedImage[]> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    if (isErrno(err, "ENOENT"))
      throw new RuntimeError("NotFound", `image archive ${path} not found`);
    throw err;
  }
  let scratch: string | undefined;
  try {
    let src: SourceDir;
    if (st.isDirectory()) {
      src = new SourceDir(path, new Map());
    } else {
      scratch = join(opts.tmpRoot, `import-${randomBytes(8).toString("hex")}`);
      await mkdir(scratch, { recursive: true });
      const aliases = await extractArchive(path, scratch, opts.signal);
      src = new SourceDir(scratch, aliases);
    }
    if (await src.exists("index.json")) {
      return await readOciLayout(src, opts.content, opts.logger, opts.signal);
    }
    if (await src.exists("manifest.json")) {
      return await readDockerArchive(src, opts.content, opts.logger, opts.signal);
    }
    throw new RuntimeError(
      "Failed",
      `${path} is neither an OCI image layout nor a docker archive (no index.json or manifest.json)`,
    );
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}
