import * as fs from "node:fs/promises";
import * as path from "node:path";
import { isCode } from "./atomic-writer.js";

/** `securityContext.fsGroupChangePolicy` values. */
export type FsGroupChangePolicy = "Always" | "OnRootMismatch";

/** Permission bits upstream adds for the group on read-write volumes (`rwMask`). */
const RW_MASK = 0o660;
/** …and on read-only ones such as configMap and secret volumes (`roMask`). */
const RO_MASK = 0o440;
/** Directories also get group search and setgid, so new files inherit the group. */
const DIR_MASK = 0o2000 | 0o110;

/** The mode bits a path must carry after fsGroup ownership was applied. */
export function fsGroupMode(mode: number, isDir: boolean, readOnly: boolean): number {
  let m = mode | (readOnly ? RO_MASK : RW_MASK);
  if (isDir) m |= DIR_MASK;
  return m;
}

/**
 * True when the volume root already has fsGroup as its group and the fsGroup permission bits,
 * which is what `OnRootMismatch` checks before skipping the recursive walk (upstream
 * `skipPermissionChange`).
 */
export async function rootMatches(
  dir: string,
  fsGroup: number,
  readOnly: boolean,
): Promise<boolean> {
  const st = await fs.stat(dir);
  const mode = st.mode & 0o7777;
  return st.gid === fsGroup && fsGroupMode(mode, true, readOnly) === mode;
}

/**
 * Gives a volume to the pod's fsGroup the way upstream's `SetVolumeOwnership` does: every path
 * below `dir` (symlinks are not followed) gets group `fsGroup`; every file and directory also
 * gets group read (and write unless `readOnly`) permission, and directories get group search
 * and the setgid bit. With `OnRootMismatch` nothing is walked when the root already matches.
 * Returns the number of paths changed. Not safe against concurrent writers of the same tree:
 * the VolumeManager serializes calls per pod.
 */
export async function setVolumeOwnership(
  dir: string,
  fsGroup: number,
  opts: { readOnly: boolean; policy: FsGroupChangePolicy },
): Promise<number> {
  if (opts.policy === "OnRootMismatch" && (await rootMatches(dir, fsGroup, opts.readOnly))) {
    return 0;
  }
  return walk(dir, fsGroup, opts.readOnly);
}

async function walk(p: string, fsGroup: number, readOnly: boolean): Promise<number> {
  let st;
  try {
    st = await fs.lstat(p);
  } catch (err) {
    // A file the pod removed while we walked needs no ownership.
    if (isCode(err, "ENOENT")) return 0;
    throw err;
  }
  let changed = 0;
  if (st.gid !== fsGroup) {
    await fs.lchown(p, -1, fsGroup);
    changed = 1;
  }
  if (st.isSymbolicLink()) return changed;
  const isDir = st.isDirectory();
  const mode = st.mode & 0o7777;
  const want = fsGroupMode(mode, isDir, readOnly);
  if (want !== mode) {
    await fs.chmod(p, want);
    changed = 1;
  }
  if (!isDir) return changed;
  for (const name of await fs.readdir(p)) {
    changed += await walk(path.join(p, name), fsGroup, readOnly);
  }
  return changed;
}
