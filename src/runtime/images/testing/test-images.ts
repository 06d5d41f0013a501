/** Test helpers for the image store: the shared test images and hand-built tar files. */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tarStream from "tar-stream";

const MAKE_TEST_IMAGES = "/work/shared/tools/make-test-images";

let cached: Promise<string> | undefined;

/** Runs a command; rejects with its stderr on failure. */
export function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: env ?? process.env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(" ")}: ${stderr}`, { cause: err }));
    });
  });
}

/**
 * Directory with the busybox, pause and web test images (layout, .oci.tar, .docker.tar),
 * built once per test process. Call {@link removeTestImages} in an `after` hook.
 */
export function testImages(): Promise<string> {
  cached ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "podrun-test-images-"));
    await run(MAKE_TEST_IMAGES, [dir]);
    return dir;
  })();
  return cached;
}

/** Removes the directory made by {@link testImages}, if any. */
export async function removeTestImages(): Promise<void> {
  if (cached === undefined) return;
  const dir = await cached;
  cached = undefined;
  await rm(dir, { recursive: true, force: true });
}

/** One entry of a hand-built tar. */
export interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  content?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** PAX extended header records of the entry (e.g. `SCHILY.xattr.user.x`). */
  pax?: Record<string, string>;
}

/** Builds an uncompressed tar from `entries`, names written verbatim (hostile ones included). */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? "file";
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type,
        mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: e.mtime ?? new Date(946684800_000),
        ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
        ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor }),
        ...(e.devminor === undefined ? {} : { devminor: e.devminor }),
        ...(e.pax === undefined ? {} : { pax: e.pax }),
      };
      const cb = (err?: Error | null): void => {
        if (err) reject(err);
        else resolve();
      };
      pack.entry(header, type === "file" ? (e.content ?? "") : "", cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}
