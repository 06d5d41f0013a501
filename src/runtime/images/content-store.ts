/** Content-addressed blob store: `blobs/sha256/<hex>`, every write verified against its digest. */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { RuntimeError } from "../errors.js";
import { checkDigest, digestHex } from "./oci.js";

/** Options of a streaming write. */
export interface BlobWriteOptions {
  signal?: AbortSignal;
  /** Expected size; a different size fails the write. */
  sizeBytes?: number;
  /** Called with the running byte count after each chunk. */
  onBytes?: (currentBytes: number) => void;
}

/**
 * A content store rooted at `root` (`root/blobs/sha256/<hex>`, temp files in `root/ingest`).
 * Safe for concurrent use: writes go to unique temp files and are renamed into place, so a blob
 * path either does not exist or holds verified content. Writing an existing digest again is
 * harmless (the rename replaces identical bytes).
 */
export class ContentStore {
  readonly #blobs: string;
  readonly #ingest: string;

  constructor(root: string) {
    this.#blobs = join(root, "blobs", "sha256");
    this.#ingest = join(root, "ingest");
  }

  /** Creates the directories; clears temp files left by a crash. Idempotent. */
  async init(): Promise<void> {
    await rm(this.#ingest, { recursive: true, force: true });
    await mkdir(this.#blobs, { recursive: true });
    await mkdir(this.#ingest, { recursive: true });
  }

  /** The file path of a blob (it may not exist). Throws RuntimeError Failed for a bad digest. */
  path(digest: string): string {
    return join(this.#blobs, digestHex(checkDigest(digest, "blob")));
  }

  /** True when the blob is present. */
  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.path(digest));
      return true;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return false;
      throw err;
    }
  }

  /** Size of a present blob. RuntimeError NotFound when absent. */
  async size(digest: string): Promise<number> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw new RuntimeError("NotFound", `blob ${digest} not found`);
      throw err;
    }
  }

  /** Reads a whole blob into memory (manifests, configs). RuntimeError NotFound when absent. */
  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw new RuntimeError("NotFound", `blob ${digest} not found`);
      throw err;
    }
  }

  /**
   * Streams `source` into the store, hashing as it goes. When `digest` is given, a mismatch (or
   * a size mismatch) fails with RuntimeError Failed naming the digest and nothing is stored;
   * when it is undefined, the computed digest names the blob. Returns the digest.
   */
  async write(
    source: AsyncIterable<Uint8Array>,
    digest: string | undefined,
    opts: BlobWriteOptions = {},
  ): Promise<string> {
    if (digest !== undefined) checkDigest(digest, "blob");
    const tmp = join(this.#ingest, `${randomBytes(8).toString("hex")}.tmp`);
    const hash = createHash("sha256");
    let total = 0;
    const fh = await open(tmp, "wx", 0o644);
    try {
      try {
        for await (const chunk of source) {
          opts.signal?.throwIfAborted();
          hash.update(chunk);
          total += chunk.byteLength;
          if (opts.sizeBytes !== undefined && total > opts.sizeBytes) {
            throw new RuntimeError(
              "Failed",
              `blob ${digest ?? "(unknown)"}: more than the expected ${opts.sizeBytes} bytes`,
            );
          }
          await fh.write(chunk);
          opts.onBytes?.(total);
        }
        opts.signal?.throwIfAborted();
        await fh.sync();
      } finally {
        await fh.close();
      }
      const got = `sha256:${hash.digest("hex")}`;
      if (opts.sizeBytes !== undefined && total !== opts.sizeBytes) {
        throw new RuntimeError(
          "Failed",
          `blob ${digest ?? got}: size ${total} does not match the expected ${opts.sizeBytes}`,
        );
      }
      if (digest !== undefined && got !== digest) {
        throw new RuntimeError("Failed", `blob ${digest}: digest mismatch (content is ${got})`);
      }
      await rename(tmp, this.path(got));
      return got;
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Stores `data`; returns its digest. */
  async writeBuffer(data: Uint8Array, digest?: string): Promise<string> {
    return this.write(Readable.from([data]), digest, { sizeBytes: data.byteLength });
  }

  /** Copies the file at `path` into the store, verifying `digest` when given. */
  async writeFile(path: string, digest?: string, opts: BlobWriteOptions = {}): Promise<string> {
    return this.write(createReadStream(path), digest, opts);
  }

  /** Removes a blob. Idempotent. */
  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Every stored digest. */
  async list(): Promise<string[]> {
    const names = await readdir(this.#blobs);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}

/** True when `err` is a Node system error with `code`. */
export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
