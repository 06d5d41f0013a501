/**
 * Safe layer unpack: streams a (gzip/zstd/plain) tar into a directory, verifying the
 * uncompressed digest (diffID) while streaming, converting OCI whiteouts to overlayfs form, and
 * refusing every entry that would land outside the directory.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  constants,
  link,
  lchown,
  lstat,
  lutimes,
  mkdir,
  open,
  rm,
  symlink,
  unlink,
  chmod,
  utimes,
} from "node:fs/promises";
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
      return createGunzip();
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

/**
 * Walks `parts` below `root` without following symlinks: every component must be a real
 * directory. With `create`, missing directories are made (0755, as tar does for implicit
 * parents); without it, a missing one yields undefined.
 */
async function resolveDirs(
  root: string,
  parts: readonly string[],
  entryName: string,
  create: boolean,
): Promise<string | undefined> {
  let cur = root;
  for (const p of parts) {
    cur = join(cur, p);
    let st;
    try {
      st = await lstat(cur);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
      if (!create) return undefined;
      await mkdir(cur, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink()) throw unsafe(entryName, `parent ${p} is a symlink`);
    if (!st.isDirectory()) throw unsafe(entryName, `parent ${p} is not a directory`);
  }
  return cur;
}

/** Removes whatever is at `path` (never following a symlink). Returns true if a directory was kept. */
async function clearTarget(path: string, keepDir: boolean): Promise<boolean> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
  if (st.isDirectory()) {
    if (keepDir) return true;
    await rm(path, { recursive: true, force: true });
  } else {
    await unlink(path);
  }
  return false;
}

async function writeAll(fh: Awaited<ReturnType<typeof open>>, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off);
    off += bytesWritten;
  }
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

class LayerWriter {
  readonly #root: string;
  readonly #setXattr: XattrSetter;
  readonly #dirs: DirMeta[] = [];

  constructor(root: string, setXattr: XattrSetter) {
    this.#root = root;
    this.#setXattr = setXattr;
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
    const parent = await resolveDirs(this.#root, parts.slice(0, -1), name, true);
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
      await clearTarget(target, false);
      await mknod(["-m", "0", target, "c", "0", "0"]);
      return;
    }

    const path = join(parent, base);
    switch (type) {
      case "file":
      case "contiguous-file": {
        await clearTarget(path, false);
        const fh = await open(
          path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        try {
          for await (const chunk of body) await writeAll(fh, chunk as Buffer);
          // chown before chmod: chown clears setuid/setgid bits.
          await fh.chown(uid, gid);
          await fh.chmod(mode);
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        return;
      }
      case "directory": {
        body.resume();
        const kept = await clearTarget(path, true);
        if (!kept) await mkdir(path, { mode: 0o700 });
        // Directory metadata is applied at the end: creating children changes the mtime.
        this.#dirs.push({ parts, name, uid, gid, mode, mtime });
        return;
      }
      case "symlink": {
        body.resume();
        await clearTarget(path, false);
        // The target is stored verbatim: it is only ever resolved inside the container.
        await symlink(header.linkname ?? "", path);
        await lchown(path, uid, gid);
        await lutimes(path, mtime, mtime);
        return;
      }
      case "link": {
        body.resume();
        const linkname = header.linkname ?? "";
        const targetParts = entryComponents(linkname, name);
        const targetBase = targetParts[targetParts.length - 1];
        if (targetBase === undefined) throw unsafe(name, "hard link to the layer root");
        const targetDir = await resolveDirs(this.#root, targetParts.slice(0, -1), name, false);
        if (targetDir === undefined)
          throw unsafe(name, `hard link target ${linkname} not in layer`);
        const target = join(targetDir, targetBase);
        let st;
        try {
          st = await lstat(target);
        } catch (err) {
          if (isErrno(err, "ENOENT"))
            throw unsafe(name, `hard link target ${linkname} not in layer`);
          throw err;
        }
        if (st.isDirectory()) throw unsafe(name, "hard link to a directory");
        if (target === path) return;
        await clearTarget(path, false);
        // link(2) does not follow a symlink target, so the new name stays inside the layer.
        await link(target, path);
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        body.resume();
        await clearTarget(path, false);
        const kind = type === "fifo" ? ["p"] : [type === "block-device" ? "b" : "c"];
        const nums =
          type === "fifo" ? [] : [String(header.devmajor ?? 0), String(header.devminor ?? 0)];
        await mknod(["-m", (mode & 0o777).toString(8), path, ...kind, ...nums]);
        await lchown(path, uid, gid);
        if ((mode & 0o7000) !== 0) await chmod(path, mode);
        await lutimes(path, mtime, mtime);
        return;
      }
      default:
        // pax/gnu meta entries are consumed by tar-stream; anything else is not file content.
        body.resume();
        return;
    }
  }

  /** Applies directory owners, modes and mtimes, re-resolving each path without symlinks. */
  async finish(): Promise<void> {
    for (const d of this.#dirs.reverse()) {
      const path = await resolveDirs(this.#root, d.parts, d.name, false).catch((err: unknown) => {
        // A later entry replaced a parent (e.g. by a symlink); that directory is gone.
        if (isRuntimeError(err, "Failed")) return undefined;
        throw err;
      });
      if (path === undefined) continue;
      await lchown(path, d.uid, d.gid);
      await chmod(path, d.mode);
      await utimes(path, d.mtime, d.mtime);
    }
  }
}

/**
 * Unpacks the layer blob at `blobPath` into the existing, empty directory `destDir`.
 * Compression is detected from the magic bytes (gzip, zstd, or none). Whiteouts become
 * overlayfs whiteouts; owners, modes (incl. setuid), mtimes, symlinks, hard links and device
 * nodes are kept. Any entry that would land outside `destDir` — absolute, `..`, written through
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
    createReadStream(blobPath),
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
  await writer.finish();
  const diffId = `sha256:${hash.digest("hex")}`;
  if (opts.expectedDiffId !== undefined && diffId !== opts.expectedDiffId) {
    throw new RuntimeError(
      "Failed",
      `layer diff id mismatch: expected ${opts.expectedDiffId}, content is ${diffId}`,
    );
  }
  return { diffId, sizeBytes };
}
