import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Clock } from "../../util/index.js";

/** One file of a projected volume: content and permission bits. */
export interface FileProjection {
  data: Buffer;
  mode: number;
}

const DATA_DIR = "..data";
const DATA_DIR_TMP = "..data_tmp";

/** Throws RangeError unless `p` is a relative path without `..` elements (PL-VOL-7). */
export function validatePayloadPath(p: string): void {
  if (p === "") throw new RangeError("invalid path: must not be empty");
  if (path.isAbsolute(p))
    throw new RangeError(`invalid path ${JSON.stringify(p)}: must be relative`);
  if (p.split("/").includes("..")) {
    throw new RangeError(`invalid path ${JSON.stringify(p)}: must not contain '..'`);
  }
  if (p.startsWith(".."))
    throw new RangeError(`invalid path ${JSON.stringify(p)}: must not start with '..'`);
}

function tsDirPrefix(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `..${d.getUTCFullYear()}_${two(d.getUTCMonth() + 1)}_${two(d.getUTCDate())}_${two(d.getUTCHours())}_${two(d.getUTCMinutes())}_${two(d.getUTCSeconds())}.`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if (isCode(err, "ENOENT")) return false;
    throw err;
  }
}

/** True when `err` is a Node system error with `code`. */
export function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

async function walkFiles(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel === "" ? ent.name : `${rel}/${ent.name}`;
    if (ent.isDirectory()) out.push(...(await walkFiles(root, r)));
    else out.push(r);
  }
  return out;
}

async function sameContent(dir: string, payload: Map<string, FileProjection>): Promise<boolean> {
  const files = await walkFiles(dir);
  if (files.length !== payload.size) return false;
  for (const f of files) {
    const want = payload.get(f);
    if (want === undefined) return false;
    const st = await fs.stat(path.join(dir, f));
    if ((st.mode & 0o7777) !== want.mode) return false;
    if (!(await fs.readFile(path.join(dir, f))).equals(want.data)) return false;
  }
  return true;
}

function topLevel(p: string): string {
  return p.split("/")[0] ?? p;
}

/**
 * Writes `payload` into `targetDir` the way upstream's AtomicWriter does (PL-VOL-5): files go
 * into a new hidden timestamped dir, `..data` is swapped to it through `..data_tmp` + rename,
 * visible names are symlinks `<top> → ..data/<top>`, stale visible names and the old dir are
 * removed. Returns false (and touches nothing but missing symlinks) when the content is
 * unchanged. Not safe for concurrent calls on one `targetDir`: the caller serializes.
 */
export async function writeAtomic(
  targetDir: string,
  payload: Map<string, FileProjection>,
  clock: Clock,
  fsGroup?: number,
): Promise<boolean> {
  for (const p of payload.keys()) validatePayloadPath(p);
  const dataLink = path.join(targetDir, DATA_DIR);
  let oldTs: string | undefined;
  try {
    oldTs = await fs.readlink(dataLink);
  } catch (err) {
    if (!isCode(err, "ENOENT")) throw err;
  }
  const wantTop = new Set([...payload.keys()].map(topLevel));
  const changed = oldTs === undefined || !(await sameContent(path.join(targetDir, oldTs), payload));

  if (changed) {
    const tsDir = await fs.mkdtemp(path.join(targetDir, tsDirPrefix(clock.now())));
    await fs.chmod(tsDir, 0o755);
    for (const [rel, file] of payload) {
      const full = path.join(tsDir, rel);
      await fs.mkdir(path.dirname(full), { recursive: true, mode: 0o755 });
      await fs.writeFile(full, file.data, { mode: file.mode });
      // writeFile's mode is filtered by the umask; the projection's mode is exact.
      await fs.chmod(full, file.mode);
      if (fsGroup !== undefined) await fs.lchown(full, -1, fsGroup);
    }
    const tmpLink = path.join(targetDir, DATA_DIR_TMP);
    await fs.rm(tmpLink, { force: true });
    await fs.symlink(path.basename(tsDir), tmpLink);
    await fs.rename(tmpLink, dataLink);
  }

  for (const top of wantTop) {
    const visible = path.join(targetDir, top);
    if (!(await exists(visible))) await fs.symlink(path.join(DATA_DIR, top), visible);
  }
  for (const name of await fs.readdir(targetDir)) {
    if (name.startsWith("..") || wantTop.has(name)) continue;
    await fs.rm(path.join(targetDir, name), { recursive: true, force: true });
  }
  if (changed && oldTs !== undefined) {
    await fs.rm(path.join(targetDir, oldTs), { recursive: true, force: true });
  }
  return changed;
}
