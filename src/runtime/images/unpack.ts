/**
 * Safe layer unpack: streams a (gzip/zstd/plain) tar into a directory, verifying the
 * uncompressed digest (diffID) while streaming, converting OCI whiteouts to overlayfs form, and
 * refusing every entry that would land outside the directory.
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Decompress } from "fzstd";
import tarStream from "tar-stream";
import { RuntimeError, isRuntimeError } from "../errors.js";
import { isErrno } from "./content-store.js";
import { mknod, type XattrSetter } from "./xattr.js";

/** Options of {@link unpackLayer}. */
export interface UnpackOptions {
  signal?: AbortSignal;
  /** Expected digest of the uncompressed tar; a mismatch fails the unpack. */
  expectedDiffId?: string;
  /** Sets `trusted.overlay.opaque=y` on opaque directories. */
  setXattr: XattrSetter;
}

/** Result of {@link unpackLayer}. */
export interface UnpackResult {
  /** `sha256:` digest of the uncompressed tar. */
  diffId: string;
  /** Uncompressed tar size. */
  sizeBytes: number;
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_WHITEOUT = ".wh..wh..opq";
/** PAX header keys carrying extended attributes (GNU tar, Docker, BuildKit). */
const PAX_XATTR_PREFIX = "SCHILY.xattr.";
/** overlayfs control attributes: a layer expresses these only through whiteouts. */
const OVERLAY_XATTR_PREFIX = "trusted.overlay.";
/** Read and decompression chunk size: fewer, larger writes per file. */
const CHUNK_BYTES = 256 * 1024;

type Compression = "gzip" | "zstd" | "none";

async function detectCompression(path: string): Promise<Compression> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return "gzip";
    if (bytesRead === 4 && buf.readUInt32LE(0) === 0xfd2fb528) return "zstd";
    return "none";
  } finally {
    await fh.close();
  }
}

function zstdDecompressor(): Transform {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        dec.push(chunk);
        cb();
      } catch (err) {
        cb(err instanceof Error ? err : new Error("zstd decompression failed"));
      }
    },
    flush(cb) {
      try {
        dec.push(new Uint8Array(0), true);
        cb();
      } catch (err) {
        cb(err instanceof Error ? err : new Error("zstd decompression failed"));
      }
    },
  });
  // fzstd may reuse its output buffer, so each chunk is copied before it is queued.
  const dec = new Decompress((data) => {
    t.push(Buffer.from(data));
  });
  return t;
}

function decompressor(c: Compression): Transform {
  switch (c) {
    case "gzip":
      return createGunzip({ chunkSize: CHUNK_BYTES });
    case "zstd":
      return zstdDecompressor();
    case "none":
      return new PassThrough();
  }
}

function unsafe(name: string, why: string): RuntimeError {
  return new RuntimeError("Failed", `unsafe layer entry ${JSON.stringify(name)}: ${why}`);
}

/**
 * Splits a tar entry name into components. Refuses absolute names, `..` components and NUL.
 * `./` prefixes and repeated slashes are dropped; `[]` is the layer root.
 */
export function entryComponents(name: string, entryName = name): string[] {
  if (name.includes("\0")) throw unsafe(entryName, "name contains NUL");
  if (name.startsWith("/")) throw unsafe(entryName, "absolute path");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw unsafe(entryName, "path contains '..'");
  return parts;
}

function writeAllSync(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off);
}

/** A tar header as tar-stream delivers it; fields may be null at run time despite its types. */
type EntryHeader = { name: string } & {
  [K in keyof Omit<tarStream.Header, "name">]?: tarStream.Header[K] | null;
};

/** The body of one tar entry: iterate it to read, or resume it to skip. */
interface EntryBody extends AsyncIterable<unknown> {
  resume(): unknown;
}

interface DirMeta {
  parts: string[];
  name: string;
  uid: number;
  gid: number;
  mode: number;
  mtime: Date;
}

/**
 * Writes the entries of one layer. File system calls are synchronous: the entries are applied
 * one after another anyway, and a thread-pool round trip per call cost several times the call
 * itself (open, write, chown, chmod, utimes, close for every file). The event loop is held for
 * one call at a time, at most one write of {@link CHUNK_BYTES}.
 */
class LayerWriter {
  readonly #root: string;
  readonly #setXattr: XattrSetter;
  readonly #dirs: DirMeta[] = [];
  /**
   * Directories below the root already checked (by lstat, or made by us) to be real
   * directories. Only this writer changes the tree, and every removal goes through
   * #clearTarget, which forgets the removed path and everything below it.
   */
  readonly #verified = new Set<string>();
  /** New files are already owned by 0:0 (we are root and the root has no setgid bit). */
  readonly #isCreatedRootOwned: boolean;

  constructor(root: string, setXattr: XattrSetter) {
    this.#root = root;
    this.#setXattr = setXattr;
    const st = lstatSync(root);
    this.#isCreatedRootOwned =
      process.geteuid?.() === 0 && process.getegid?.() === 0 && (st.mode & 0o2000) === 0;
  }

  /**
   * Walks `parts` below the root without following symlinks: every component must be a real
   * directory. With `create`, missing directories are made (0755, as tar does for implicit
   * parents); without it, a missing one yields undefined.
   */
  #resolveDirs(parts: readonly string[], entryName: string, create: boolean): string | undefined {
    let cur = this.#root;
    for (const p of parts) {
      cur = `${cur}/${p}`;
      if (this.#verified.has(cur)) continue;
      let st;
      try {
        st = lstatSync(cur);
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
        if (!create) return undefined;
        mkdirSync(cur, { mode: 0o755 });
        this.#verified.add(cur);
        continue;
      }
      if (st.isSymbolicLink()) throw unsafe(entryName, `parent ${p} is a symlink`);
      if (!st.isDirectory()) throw unsafe(entryName, `parent ${p} is not a directory`);
      this.#verified.add(cur);
    }
    return cur;
  }

  /** Removes whatever is at `path` (never following a symlink). Returns true if a directory was kept. */
  #clearTarget(path: string, keepDir: boolean): boolean {
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return false;
      throw err;
    }
    if (st.isDirectory()) {
      if (keepDir) return true;
      rmSync(path, { recursive: true, force: true });
      const below = `${path}/`;
      this.#verified.delete(path);
      for (const d of this.#verified) if (d.startsWith(below)) this.#verified.delete(d);
    } else {
      unlinkSync(path);
    }
    return false;
  }

  /** Creates `path` exclusively, never through a symlink; whatever was there is replaced. */
  #createFile(path: string): number {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    try {
      return openSync(path, flags, 0o600);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
    }
    this.#clearTarget(path, false);
    return openSync(path, flags, 0o600);
  }

  /** Applies the entry's `SCHILY.xattr.*` PAX records to `path` (not following a symlink). */
  async #applyXattrs(path: string, header: EntryHeader): Promise<void> {
    // tar-stream puts the entry's PAX records on the header; its typings do not declare them.
    const pax = (header as { pax?: Record<string, unknown> | null }).pax;
    if (pax === undefined || pax === null) return;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith(PAX_XATTR_PREFIX) || typeof value !== "string") continue;
      const name = key.slice(PAX_XATTR_PREFIX.length);
      // overlayfs would act on these (opaque, redirect, metacopy); a layer may only say
      // "opaque" through a whiteout. A value tar-stream could not decode as UTF-8 cannot be
      // restored byte for byte and is left out rather than written altered.
      if (name === "" || name.startsWith(OVERLAY_XATTR_PREFIX) || value.includes("\uFFFD"))
        continue;
      await this.#setXattr(path, name, value);
    }
  }

  async entry(header: EntryHeader, body: EntryBody): Promise<void> {
    const name = header.name;
    const parts = entryComponents(name);
    const type = header.type ?? "file";
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    const mode = (header.mode ?? 0o644) & 0o7777;
    const mtime = header.mtime ?? new Date(0);
    const base = parts[parts.length - 1];
    if (base === undefined) {
      // The layer root ("./"): only its metadata applies.
      if (type === "directory") this.#dirs.push({ parts, name, uid, gid, mode, mtime });
      body.resume();
      return;
    }
    const parent = this.#resolveDirs(parts.slice(0, -1), name, true);
    if (parent === undefined) throw unsafe(name, "parent missing");

    // OCI whiteouts become overlayfs whiteouts: an opaque marker on the directory, or a
    // 0/0 character device in place of the deleted name.
    if (base === OPAQUE_WHITEOUT) {
      body.resume();
      await this.#setXattr(parent, "trusted.overlay.opaque", "y");
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      body.resume();
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      if (hidden === "" || hidden === "." || hidden === "..") throw unsafe(name, "bad whiteout");
      const target = join(parent, hidden);
      this.#clearTarget(target, false);
      await mknod(["-m", "0", target, "c", "0", "0"]);
      return;
    }

    const path = `${parent}/${base}`;
    switch (type) {
      case "file":
      case "contiguous-file": {
        const fd = this.#createFile(path);
        try {
          for await (const chunk of body) writeAllSync(fd, chunk as Buffer);
          // chown before chmod: chown clears setuid/setgid bits.
          if (!(this.#isCreatedRootOwned && uid === 0 && gid === 0)) fchownSync(fd, uid, gid);
          fchmodSync(fd, mode);
          futimesSync(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
        await this.#applyXattrs(path, header);
        return;
      }
      case "directory": {
        body.resume();
        const kept = this.#clearTarget(path, true);
        if (!kept) mkdirSync(path, { mode: 0o700 });
        this.#verified.add(path);
        // Directory metadata is applied at the end: creating children changes the mtime.
        this.#dirs.push({ parts, name, uid, gid, mode, mtime });
        await this.#applyXattrs(path, header);
        return;
      }
      case "symlink": {
        body.resume();
        this.#clearTarget(path, false);
        // The target is stored verbatim: it is only ever resolved inside the container.
        symlinkSync(header.linkname ?? "", path);
        lchownSync(path, uid, gid);
        lutimesSync(path, mtime, mtime);
        await this.#applyXattrs(path, header);
        return;
      }
      case "link": {
        body.resume();
        const linkname = header.linkname ?? "";
        const targetParts = entryComponents(linkname, name);
        const targetBase = targetParts[targetParts.length - 1];
        if (targetBase === undefined) throw unsafe(name, "hard link to the layer root");
        const targetDir = this.#resolveDirs(targetParts.slice(0, -1), name, false);
        if (targetDir === undefined)
          throw unsafe(name, `hard link target ${linkname} not in layer`);
        const target = `${targetDir}/${targetBase}`;
        let st;
        try {
          st = lstatSync(target);
        } catch (err) {
          if (isErrno(err, "ENOENT"))
            throw unsafe(name, `hard link target ${linkname} not in layer`);
          throw err;
        }
        if (st.isDirectory()) throw unsafe(name, "hard link to a directory");
        if (target === path) return;
        this.#clearTarget(path, false);
        // link(2) does not follow a symlink target, so the new name stays inside the layer.
        linkSync(target, path);
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        body.resume();
        this.#clearTarget(path, false);
        const kind = type === "fifo" ? ["p"] : [type === "block-device" ? "b" : "c"];
        const nums =
          type === "fifo" ? [] : [String(header.devmajor ?? 0), String(header.devminor ?? 0)];
        await mknod(["-m", (mode & 0o777).toString(8), path, ...kind, ...nums]);
        lchownSync(path, uid, gid);
        if ((mode & 0o7000) !== 0) chmodSync(path, mode);
        lutimesSync(path, mtime, mtime);
        await this.#applyXattrs(path, header);
        return;
      }
      default:
        // pax/gnu meta entries are consumed by tar-stream; anything else is not file content.
        body.resume();
        return;
    }
  }

  /** Applies directory owners, modes and mtimes, re-resolving each path without symlinks. */
  finish(): void {
    for (const d of this.#dirs.reverse()) {
      let path;
      try {
        path = this.#resolveDirs(d.parts, d.name, false);
      } catch (err) {
        // A later entry replaced a parent (e.g. by a symlink); that directory is gone.
        if (isRuntimeError(err, "Failed")) continue;
        throw err;
      }
      if (path === undefined) continue;
      lchownSync(path, d.uid, d.gid);
      chmodSync(path, d.mode);
      utimesSync(path, d.mtime, d.mtime);
    }
  }
}

/**
 * Unpacks the layer blob at `blobPath` into the existing, empty directory `destDir`.
 * Compression is detected from the magic bytes (gzip, zstd, or none). Whiteouts become
 * overlayfs whiteouts; owners, modes (incl. setuid), mtimes, symlinks, hard links, device
 * nodes and extended attributes (PAX `SCHILY.xattr.*`, except overlayfs' own `trusted.overlay.*`)
 * are kept. Any entry that would land outside `destDir` — absolute, `..`, written through
 * a symlink, or hard-linked to something outside — fails the whole unpack with RuntimeError
 * Failed naming the entry; a diffID mismatch fails the same way. On failure `destDir` holds
 * partial content: callers unpack into a temp dir and discard it. Must not run concurrently
 * on the same `destDir`. Aborting the signal stops with its reason.
 */
export async function unpackLayer(
  blobPath: string,
  destDir: string,
  opts: UnpackOptions,
): Promise<UnpackResult> {
  const compression = await detectCompression(blobPath);
  const hash = createHash("sha256");
  let sizeBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      sizeBytes += chunk.length;
      cb(null, chunk);
    },
  });
  const extract = tarStream.extract();
  const writer = new LayerWriter(destDir, opts.setXattr);
  let pipeErr: unknown;
  const piped = pipeline(
    createReadStream(blobPath, { highWaterMark: CHUNK_BYTES }),
    decompressor(compression),
    tap,
    extract,
    opts.signal === undefined ? {} : { signal: opts.signal },
  ).catch((err: unknown) => {
    pipeErr = err;
  });
  let entryErr: unknown;
  try {
    for await (const entry of extract) {
      opts.signal?.throwIfAborted();
      try {
        await writer.entry(entry.header, entry);
      } catch (err) {
        if (isRuntimeError(err)) throw err;
        throw new RuntimeError(
          "Failed",
          `unpack layer entry ${JSON.stringify(entry.header.name)}`,
          {
            cause: err,
          },
        );
      }
    }
  } catch (err) {
    entryErr = err;
    extract.destroy();
  }
  await piped;
  if (entryErr !== undefined) {
    if (isRuntimeError(entryErr)) throw entryErr;
    opts.signal?.throwIfAborted();
    throw new RuntimeError("Failed", "unpack layer: read tar stream", { cause: entryErr });
  }
  if (pipeErr !== undefined) {
    opts.signal?.throwIfAborted();
    throw new RuntimeError("Failed", `unpack layer: ${compression} stream`, { cause: pipeErr });
  }
  writer.finish();
  const diffId = `sha256:${hash.digest("hex")}`;
  if (opts.expectedDiffId !== undefined && diffId !== opts.expectedDiffId) {
    throw new RuntimeError(
      "Failed",
      `layer diff id mismatch: expected ${opts.expectedDiffId}, content is ${diffId}`,
    );
  }
  return { diffId, sizeBytes };
}
