/** The OCI image store: content by digest, an image index, shared unpacked layers, pulls. */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SystemClock, abortReason, type Clock, type Logger } from "../../util/index.js";
import { RuntimeError } from "../errors.js";
import type {
  AuthConfig,
  CallOptions,
  Image,
  ImageConfig,
  ImageService,
  PullProgress,
} from "../types.js";
import { ContentStore, isErrno } from "./content-store.js";
import { stageArchive, type LayerBlob, type StagedImage } from "./import.js";
import { chainIds, digestHex, parseImageConfig, parseManifest } from "./oci.js";
import {
  formatReference,
  isImageId,
  normalizeReference,
  repositoryName,
  type ImageReference,
} from "./reference.js";
import { resolveManifest, type RegistryConfig } from "./registry.js";
import { unpackLayer } from "./unpack.js";
import { hostXattrSetter, type XattrSetter } from "./xattr.js";

/** Options of {@link OciImageStore}. */
export interface OciImageStoreOptions {
  /** Directory of the store, e.g. `<dataDir>/images`. */
  root: string;
  logger: Logger;
  /** @default new SystemClock() */
  clock?: Clock;
  /** Mirrors and plain-HTTP registries. @default {} */
  registries?: RegistryConfig;
  /** How opaque-directory xattrs are set. @default hostXattrSetter() */
  setXattr?: XattrSetter;
  /** fetch implementation for registry calls. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Layers downloaded at the same time in one pull. @default 3 */
  maxParallelLayers?: number;
}

interface ResolvedOptions {
  root: string;
  logger: Logger;
  clock: Clock;
  registries: RegistryConfig;
  setXattr: XattrSetter;
  fetch: typeof fetch;
  maxParallelLayers: number;
}

/** Applies the defaults of {@link OciImageStoreOptions}. */
export function resolveOciImageStoreOptions(opts: OciImageStoreOptions): ResolvedOptions {
  return {
    root: opts.root,
    logger: opts.logger,
    clock: opts.clock ?? new SystemClock(),
    registries: opts.registries ?? {},
    setXattr: opts.setXattr ?? hostXattrSetter(),
    fetch: opts.fetch ?? ((input, init) => fetch(input, init)),
    maxParallelLayers: opts.maxParallelLayers ?? 3,
  };
}

/** One layer of a stored image. */
interface LayerRecord extends LayerBlob {
  diffId: string;
  chainId: string;
}

/** What the index file keeps per image. */
interface ImageRecord {
  id: string;
  configDigest: string;
  manifestDigest?: string;
  repoTags: string[];
  repoDigests: string[];
  layers: LayerRecord[];
  sizeBytes: number;
  config: ImageConfig;
  createdAtMs: number;
}

interface IndexFile {
  version: 1;
  images: ImageRecord[];
}

interface SharedPull {
  promise: Promise<string>;
  controller: AbortController;
  waiters: number;
  listeners: Set<(p: PullProgress) => void>;
}

/**
 * The node's image store (`ImageService`), rooted at `root`:
 * - `blobs/sha256/<hex>`: manifests, configs and layer blobs, each verified against its digest;
 * - `images.json`: the image index (id = `sha256:<config digest>`, repo tags, repo digests,
 *   layers), replaced atomically (temp file + fsync + rename) on every change;
 * - `layers/<chainID hex>/diff`: each layer unpacked once (overlayfs form), shared by every
 *   image with the same chain; `layers/<hex>/.complete` marks a finished unpack. Unpacks go to
 *   `layers/.tmp-*` and are renamed into place.
 *
 * Concurrency: every method may be called concurrently. Pulls of the same reference are
 * coalesced into one; index changes are serialized; layers are unpacked once even when two
 * images need them at the same moment; prune never deletes what an import or pull in progress
 * holds. Abort: a pull's download stops when every caller waiting on it has aborted; a
 * caller's abort rejects its own call at once. Unpacking a downloaded layer is local work and
 * finishes even if the caller aborted.
 *
 * Errors are RuntimeErrors: NotFound (unknown image, manifest or archive), Failed (registry
 * auth, digest mismatch, unsafe layer, bad format — naming the digest or entry), Unavailable
 * (registry unreachable). Invalid references throw RangeError (`invalid reference format`).
 *
 * Removing an image that a container still uses deletes its layers: callers (kubelet image GC)
 * remove only unused images.
 */
export class OciImageStore implements ImageService {
  readonly #opts: ResolvedOptions;
  readonly #content: ContentStore;
  readonly #layersDir: string;
  readonly #indexPath: string;
  #ready: Promise<void> | undefined;
  #images: ImageRecord[] = [];
  /** Serializes index changes and garbage collection. */
  #lock: Promise<void> = Promise.resolve();
  readonly #unpacking = new Map<string, Promise<void>>();
  readonly #pulls = new Map<string, SharedPull>();
  /** Blob digests and chain ids held by imports and pulls in progress (counted). */
  readonly #leases = new Map<string, number>();

  constructor(opts: OciImageStoreOptions) {
    if (opts.root === "") throw new TypeError("OciImageStore: option root must not be empty");
    if (opts.maxParallelLayers !== undefined && !(opts.maxParallelLayers >= 1)) {
      throw new RangeError(
        `OciImageStore: option maxParallelLayers must be >= 1, got ${opts.maxParallelLayers}`,
      );
    }
    this.#opts = resolveOciImageStoreOptions(opts);
    this.#content = new ContentStore(this.#opts.root);
    this.#layersDir = join(this.#opts.root, "layers");
    this.#indexPath = join(this.#opts.root, "images.json");
  }

  /** Creates directories, loads the index and removes leftovers of a crash. Idempotent. */
  async init(): Promise<void> {
    this.#ready ??= this.#load();
    await this.#ready;
  }

  async #load(): Promise<void> {
    await this.#content.init();
    await mkdir(this.#layersDir, { recursive: true });
    await mkdir(join(this.#opts.root, "tmp"), { recursive: true });
    for (const name of await readdir(this.#layersDir)) {
      if (name.startsWith(".tmp-"))
        await rm(join(this.#layersDir, name), { recursive: true, force: true });
    }
    await rm(join(this.#opts.root, "tmp"), { recursive: true, force: true });
    await mkdir(join(this.#opts.root, "tmp"), { recursive: true });
    try {
      const parsed = JSON.parse(await readFile(this.#indexPath, "utf8")) as IndexFile;
      this.#images = parsed.images;
    } catch (err) {
      if (!isErrno(err, "ENOENT")) {
        throw new RuntimeError("Failed", `read image index ${this.#indexPath}`, { cause: err });
      }
      this.#images = [];
    }
  }

  async #withLock<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((r) => {
      release = r;
    });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async #persist(): Promise<void> {
    const tmp = `${this.#indexPath}.${randomBytes(6).toString("hex")}.tmp`;
    const body: IndexFile = { version: 1, images: this.#images };
    const fh = await open(tmp, "wx", 0o644);
    try {
      await fh.writeFile(JSON.stringify(body));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.#indexPath);
  }

  #lease(keys: readonly string[]): () => void {
    for (const k of keys) this.#leases.set(k, (this.#leases.get(k) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of keys) {
        const n = (this.#leases.get(k) ?? 1) - 1;
        if (n <= 0) this.#leases.delete(k);
        else this.#leases.set(k, n);
      }
    };
  }

  #find(ref: string): ImageRecord | undefined {
    if (isImageId(ref)) {
      const id = ref.startsWith("sha256:") ? ref : `sha256:${ref}`;
      return this.#images.find((i) => i.id === id);
    }
    let parsed: ImageReference;
    try {
      parsed = normalizeReference(ref);
    } catch {
      // An unparsable reference names no stored image.
      return undefined;
    }
    if (parsed.digest !== undefined) {
      const want = `${repositoryName(parsed)}@${parsed.digest}`;
      return this.#images.find((i) => i.repoDigests.includes(want));
    }
    const tag = formatReference(parsed);
    return this.#images.find((i) => i.repoTags.includes(tag));
  }

  #toImage(r: ImageRecord): Image {
    return {
      id: r.id,
      repoTags: [...r.repoTags],
      repoDigests: [...r.repoDigests],
      sizeBytes: r.sizeBytes,
      config: structuredClone(r.config),
    };
  }

  /** Directory of an unpacked layer (the overlayfs lowerdir). */
  #layerDir(chainId: string): string {
    return join(this.#layersDir, digestHex(chainId), "diff");
  }

  async #isLayerComplete(chainId: string): Promise<boolean> {
    try {
      await stat(join(this.#layersDir, digestHex(chainId), ".complete"));
      return true;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return false;
      throw err;
    }
  }

  /** Unpacks a layer blob once into `layers/<chain hex>`; concurrent callers share the work. */
  async #ensureLayer(layer: LayerRecord): Promise<void> {
    const key = layer.chainId;
    let p = this.#unpacking.get(key);
    if (p === undefined) {
      p = this.#unpack(layer).finally(() => this.#unpacking.delete(key));
      this.#unpacking.set(key, p);
    }
    await p;
  }

  async #unpack(layer: LayerRecord): Promise<void> {
    if (await this.#isLayerComplete(layer.chainId)) return;
    const finalDir = join(this.#layersDir, digestHex(layer.chainId));
    const tmp = join(this.#layersDir, `.tmp-${randomBytes(8).toString("hex")}`);
    const started = this.#opts.clock.now();
    try {
      await mkdir(join(tmp, "diff"), { recursive: true, mode: 0o755 });
      await unpackLayer(this.#content.path(layer.digest), join(tmp, "diff"), {
        expectedDiffId: layer.diffId,
        setXattr: this.#opts.setXattr,
      });
      await writeFile(join(tmp, ".complete"), `${layer.digest}\n`);
      // A directory without .complete is the leftover of a crash: replace it.
      await rm(finalDir, { recursive: true, force: true });
      await rename(tmp, finalDir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      const detail = err instanceof Error ? `: ${err.message}` : "";
      throw new RuntimeError("Failed", `unpack layer ${layer.digest}${detail}`, { cause: err });
    }
    this.#opts.logger.debug("layer unpacked", {
      layer: layer.digest,
      chainId: layer.chainId,
      durationMs: this.#opts.clock.now() - started,
    });
  }

  /**
   * Turns a staged image (blobs present) into a stored one: unpacks its layers, then records it.
   * Tags move from any other image to this one (like `docker tag`); the repo digest is added
   * for every name when the image came with a manifest digest.
   */
  async #commit(staged: StagedImage, digestRepos: readonly ImageReference[]): Promise<string> {
    const configData = await this.#content.read(staged.configDigest);
    const cfg = parseImageConfig(configData);
    if (cfg.diffIds.length !== staged.layers.length) {
      throw new RuntimeError(
        "Failed",
        `image ${staged.configDigest}: config lists ${cfg.diffIds.length} layers, manifest ${staged.layers.length}`,
      );
    }
    const chains = chainIds(cfg.diffIds);
    const layers: LayerRecord[] = staged.layers.map((l, i) => ({
      ...l,
      diffId: cfg.diffIds[i] ?? "",
      chainId: chains[i] ?? "",
    }));
    // Until the record is written, a concurrent removeImage/prune must not take these layers.
    const release = this.#lease(chains);
    try {
      await Promise.all(layers.map((l) => this.#ensureLayer(l)));
      return await this.#record(staged, cfg.config, configData.byteLength, layers, digestRepos);
    } finally {
      release();
    }
  }

  async #record(
    staged: StagedImage,
    config: ImageConfig,
    configBytes: number,
    layers: LayerRecord[],
    digestRepos: readonly ImageReference[],
  ): Promise<string> {
    const id = staged.configDigest;
    const repoTags = staged.names.map(formatReference);
    const repoDigests =
      staged.manifestDigest === undefined
        ? []
        : [
            ...new Set(
              digestRepos.map((r) => `${repositoryName(r)}@${staged.manifestDigest ?? ""}`),
            ),
          ];
    const sizeBytes = configBytes + layers.reduce((n, l) => n + l.sizeBytes, 0);
    await this.#withLock(async () => {
      for (const other of this.#images) {
        if (other.id !== id) other.repoTags = other.repoTags.filter((t) => !repoTags.includes(t));
      }
      const existing = this.#images.find((i) => i.id === id);
      if (existing !== undefined) {
        existing.repoTags = [...new Set([...existing.repoTags, ...repoTags])];
        existing.repoDigests = [...new Set([...existing.repoDigests, ...repoDigests])];
        if (staged.manifestDigest !== undefined) existing.manifestDigest = staged.manifestDigest;
        existing.layers = layers;
      } else {
        const record: ImageRecord = {
          id,
          configDigest: staged.configDigest,
          repoTags,
          repoDigests,
          layers,
          sizeBytes,
          config,
          createdAtMs: this.#opts.clock.now(),
        };
        if (staged.manifestDigest !== undefined) record.manifestDigest = staged.manifestDigest;
        this.#images.push(record);
      }
      await this.#persist();
    });
    return id;
  }

  /** {@inheritDoc ImageService.importImages} */
  async importImages(path: string, opts: CallOptions = {}): Promise<string[]> {
    await this.init();
    // Everything staged stays leased until recorded, so a concurrent prune cannot take it.
    const staged = await stageArchive(path, {
      content: this.#content,
      tmpRoot: join(this.#opts.root, "tmp"),
      logger: this.#opts.logger,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    if (staged.length === 0) {
      throw new RuntimeError("NotFound", `${path} holds no image for this platform`);
    }
    const release = this.#lease(
      staged.flatMap((s) => [
        s.configDigest,
        ...(s.manifestDigest === undefined ? [] : [s.manifestDigest]),
        ...s.layers.map((l) => l.digest),
      ]),
    );
    try {
      const ids: string[] = [];
      for (const s of staged) {
        opts.signal?.throwIfAborted();
        ids.push(await this.#commit(s, s.names));
        this.#opts.logger.info("image imported", {
          image: ids[ids.length - 1],
          tags: s.names.map(formatReference),
        });
      }
      return ids;
    } finally {
      release();
    }
  }

  /** {@inheritDoc ImageService.pullImage} */
  async pullImage(
    ref: string,
    opts: CallOptions & { auth?: AuthConfig; onProgress?: (p: PullProgress) => void } = {},
  ): Promise<string> {
    await this.init();
    opts.signal?.throwIfAborted();
    const parsed = normalizeReference(ref);
    const key = formatReference(parsed);
    let shared = this.#pulls.get(key);
    if (shared === undefined) {
      const controller = new AbortController();
      const listeners = new Set<(p: PullProgress) => void>();
      const promise = this.#pull(parsed, {
        signal: controller.signal,
        ...(opts.auth === undefined ? {} : { auth: opts.auth }),
        onProgress: (p) => {
          for (const l of listeners) l(p);
        },
      }).finally(() => {
        if (this.#pulls.get(key) === shared) this.#pulls.delete(key);
      });
      // Waiters observe the result; this handler only keeps a pull whose waiters all left
      // (and aborted it) from surfacing as an unhandled rejection.
      promise.catch(() => undefined);
      shared = { promise, controller, waiters: 0, listeners };
      this.#pulls.set(key, shared);
    }
    const s = shared;
    s.waiters++;
    const onProgress = opts.onProgress;
    if (onProgress !== undefined) s.listeners.add(onProgress);
    const signal = opts.signal;
    try {
      if (signal === undefined) return await s.promise;
      return await new Promise<string>((resolve, reject) => {
        const onAbort = (): void => {
          reject(abortReason(signal));
        };
        signal.addEventListener("abort", onAbort, { once: true });
        s.promise.then(resolve, reject).finally(() => {
          signal.removeEventListener("abort", onAbort);
        });
      });
    } finally {
      if (onProgress !== undefined) s.listeners.delete(onProgress);
      s.waiters--;
      // The last waiter leaving before the pull ends cancels the download.
      // It leaves the map at once, so a new pull of the same reference starts afresh.
      if (s.waiters === 0 && this.#pulls.get(key) === s) {
        this.#pulls.delete(key);
        s.controller.abort(signal?.reason);
      }
    }
  }

  async #pull(
    ref: ImageReference,
    opts: { signal: AbortSignal; auth?: AuthConfig; onProgress: (p: PullProgress) => void },
  ): Promise<string> {
    const { signal } = opts;
    const started = this.#opts.clock.now();
    // Step 1: resolve the reference to one manifest (platform chosen from an index).
    const { session, manifest: fetched } = await resolveManifest(ref, {
      config: this.#opts.registries,
      logger: this.#opts.logger,
      signal,
      fetch: this.#opts.fetch,
      ...(opts.auth === undefined ? {} : { auth: opts.auth }),
    });
    const manifest = parseManifest(fetched.data);
    const release = this.#lease([
      fetched.digest,
      manifest.config.digest,
      ...manifest.layers.map((l) => l.digest),
    ]);
    try {
      // Step 2: manifest and config blobs.
      await this.#content.writeBuffer(fetched.data, fetched.digest);
      const download = async (
        digest: string,
        sizeBytes: number,
        isLayer: boolean,
      ): Promise<void> => {
        if (await this.#content.has(digest)) {
          if (isLayer)
            opts.onProgress({ layer: digest, currentBytes: sizeBytes, totalBytes: sizeBytes });
          return;
        }
        const res = await session.blob(digest, signal);
        if (res.body === null) throw new RuntimeError("Failed", `blob ${digest}: empty response`);
        await this.#content.write(res.body, digest, {
          sizeBytes,
          signal,
          ...(isLayer
            ? {
                onBytes: (currentBytes: number) => {
                  opts.onProgress({ layer: digest, currentBytes, totalBytes: sizeBytes });
                },
              }
            : {}),
        });
      };
      await download(manifest.config.digest, manifest.config.size, false);
      // Step 3: layers, a few at a time.
      const queue = [...manifest.layers];
      const worker = async (): Promise<void> => {
        for (let l = queue.shift(); l !== undefined; l = queue.shift()) {
          await download(l.digest, l.size, true);
        }
      };
      const workers = Array.from(
        { length: Math.min(this.#opts.maxParallelLayers, queue.length) },
        () => worker(),
      );
      const results = await Promise.allSettled(workers);
      for (const r of results) if (r.status === "rejected") throw r.reason;
      signal.throwIfAborted();
      // Step 4: unpack and record.
      const names = ref.tag !== undefined && ref.digest === undefined ? [{ ...ref }] : [];
      const id = await this.#commit(
        {
          names,
          manifestDigest: fetched.digest,
          configDigest: manifest.config.digest,
          layers: manifest.layers.map((l) => ({
            digest: l.digest,
            sizeBytes: l.size,
            mediaType: l.mediaType,
          })),
        },
        [{ domain: ref.domain, path: ref.path }],
      );
      this.#opts.logger.info("image pulled", {
        image: formatReference(ref),
        id,
        durationMs: this.#opts.clock.now() - started,
      });
      return id;
    } finally {
      release();
    }
  }

  /** {@inheritDoc ImageService.imageStatus} */
  async imageStatus(ref: string): Promise<Image | undefined> {
    await this.init();
    const r = this.#find(ref);
    return r === undefined ? undefined : this.#toImage(r);
  }

  /** {@inheritDoc ImageService.listImages} */
  async listImages(): Promise<Image[]> {
    await this.init();
    return this.#images.map((r) => this.#toImage(r));
  }

  /**
   * Removes the image named by `ref` (id, tag or digest reference) with all its tags, then its
   * blobs and layers that no other image uses (as CRI RemoveImage). NotFound for unknown refs.
   */
  async removeImage(ref: string): Promise<void> {
    await this.init();
    await this.#withLock(async () => {
      const r = this.#find(ref);
      if (r === undefined) throw new RuntimeError("NotFound", `image ${ref} not found`);
      this.#images = this.#images.filter((i) => i !== r);
      await this.#persist();
      await this.#collect();
    });
  }

  /**
   * Deletes unpacked layers and blobs that no stored image references and no import or pull in
   * progress holds. Returns the chain ids of removed layers followed by the removed blob digests.
   */
  async prune(): Promise<string[]> {
    await this.init();
    return this.#withLock(() => this.#collect());
  }

  /** Garbage collection; runs under the lock. */
  async #collect(): Promise<string[]> {
    const usedLayers = new Set<string>();
    const usedBlobs = new Set<string>();
    for (const i of this.#images) {
      usedBlobs.add(i.configDigest);
      if (i.manifestDigest !== undefined) usedBlobs.add(i.manifestDigest);
      for (const l of i.layers) {
        usedLayers.add(l.chainId);
        usedBlobs.add(l.digest);
      }
    }
    const removed: string[] = [];
    for (const name of await readdir(this.#layersDir)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const chainId = `sha256:${name}`;
      if (usedLayers.has(chainId) || this.#leases.has(chainId) || this.#unpacking.has(chainId)) {
        continue;
      }
      await rm(join(this.#layersDir, name), { recursive: true, force: true });
      removed.push(chainId);
    }
    for (const digest of await this.#content.list()) {
      if (usedBlobs.has(digest) || this.#leases.has(digest)) continue;
      await this.#content.delete(digest);
      removed.push(digest);
    }
    if (removed.length > 0)
      this.#opts.logger.info("image content pruned", { count: removed.length });
    return removed;
  }

  /**
   * The unpacked layer directories of an image, bottom → top (reverse them for overlayfs
   * `lowerdir`, which lists the top layer first). A layer directory missing on disk is
   * unpacked again from its blob. NotFound for unknown images.
   */
  async layerPaths(imageRef: string): Promise<string[]> {
    await this.init();
    const r = this.#find(imageRef);
    if (r === undefined) throw new RuntimeError("NotFound", `image ${imageRef} not found`);
    const release = this.#lease(r.layers.flatMap((l) => [l.chainId, l.digest]));
    try {
      for (const l of r.layers) {
        if (!(await this.#isLayerComplete(l.chainId))) await this.#ensureLayer(l);
      }
    } finally {
      release();
    }
    return r.layers.map((l) => this.#layerDir(l.chainId));
  }

  /** The config (PL-IMG-8 fields) of an image. NotFound for unknown images. */
  async imageConfig(ref: string): Promise<ImageConfig> {
    await this.init();
    const r = this.#find(ref);
    if (r === undefined) throw new RuntimeError("NotFound", `image ${ref} not found`);
    return structuredClone(r.config);
  }
}
