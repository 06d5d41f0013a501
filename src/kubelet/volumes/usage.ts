import * as fs from "node:fs/promises";
import * as path from "node:path";
import { isCode } from "./atomic-writer.js";

/**
 * Bytes used by the tree at `dir`, like `du -x`: allocated blocks (512-byte units) of every
 * file, directory and symlink, each hard-linked inode counted once, without descending into
 * other file systems. Entries removed during the walk are skipped. 0 when `dir` is missing.
 */
export async function diskUsageBytes(dir: string): Promise<number> {
  let root;
  try {
    root = await fs.lstat(dir);
  } catch (err) {
    if (isCode(err, "ENOENT")) return 0;
    throw err;
  }
  const seen = new Set<number>();
  let total = 0;
  // Iterative walk: a deep tree written by a pod must not overflow the stack.
  const stack: string[] = [dir];
  let first = true;
  while (stack.length > 0) {
    const p = stack.pop() ?? "";
    let st = root;
    if (!first) {
      try {
        st = await fs.lstat(p);
      } catch (err) {
        if (isCode(err, "ENOENT")) continue;
        throw err;
      }
    }
    first = false;
    if (st.dev !== root.dev) continue;
    if (st.nlink > 1 && !st.isDirectory()) {
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
    }
    total += st.blocks * 512;
    if (!st.isDirectory()) continue;
    let names: string[];
    try {
      names = await fs.readdir(p);
    } catch (err) {
      if (isCode(err, "ENOENT")) continue;
      throw err;
    }
    for (const name of names) stack.push(path.join(p, name));
  }
  return total;
}

/** Bytes used on the file system mounted at `dir` (a tmpfs), from statfs: O(1). */
export async function mountUsageBytes(dir: string): Promise<number> {
  const st = await fs.statfs(dir);
  return (st.blocks - st.bfree) * st.bsize;
}
