import { readFile } from "node:fs/promises";
import { spawner } from "../../util/index.js";

/**
 * Mounts tmpfs file systems for memory-backed volumes. Implementations must be safe for
 * concurrent calls on different paths; the VolumeManager never calls twice for one path at once.
 */
export interface Mounter {
  /** Mounts a tmpfs at `dir` (size limit in bytes when given). */
  mountTmpfs(
    dir: string,
    sizeBytes: number | undefined,
    opts: { signal: AbortSignal },
  ): Promise<void>;
  /** Unmounts `dir`. Resolves when `dir` is not a mount point. */
  unmount(dir: string): Promise<void>;
  /** True when `dir` is a mount point. */
  isMountPoint(dir: string): Promise<boolean>;
  /** Mount points at or below `dir`, deepest first. */
  mountsUnder(dir: string): Promise<string[]>;
}

async function run(file: string, args: string[], signal?: AbortSignal): Promise<void> {
  const r = await spawner.run(file, args, signal === undefined ? {} : { signal });
  signal?.throwIfAborted();
  if (r.code !== 0) {
    const why = r.stderr.toString().trim() || `exit ${String(r.code ?? r.signal)}`;
    throw new Error(`${file} ${args.join(" ")}: ${why}`);
  }
}

/** Decodes the octal escapes of /proc/self/mountinfo paths (`\040` = space). */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The node's mounter: `mount -t tmpfs` / `umount`, mount points read from mountinfo. */
export class SystemMounter implements Mounter {
  async mountTmpfs(
    dir: string,
    sizeBytes: number | undefined,
    opts: { signal: AbortSignal },
  ): Promise<void> {
    const o = sizeBytes === undefined ? "mode=0777" : `mode=0777,size=${sizeBytes}`;
    await run("mount", ["-t", "tmpfs", "-o", o, "tmpfs", dir], opts.signal);
  }

  async unmount(dir: string): Promise<void> {
    if (!(await this.isMountPoint(dir))) return;
    await run("umount", [dir]);
  }

  async isMountPoint(dir: string): Promise<boolean> {
    return (await this.#mountPoints()).includes(dir);
  }

  async mountsUnder(dir: string): Promise<string[]> {
    const prefix = dir.endsWith("/") ? dir : dir + "/";
    return (await this.#mountPoints())
      .filter((m) => m === dir || m.startsWith(prefix))
      .sort((a, b) => b.length - a.length);
  }

  async #mountPoints(): Promise<string[]> {
    const text = await readFile("/proc/self/mountinfo", "utf8");
    return text
      .split("\n")
      .map((l) => l.split(" ")[4])
      .filter((m): m is string => m !== undefined)
      .map(unescapeMountPath);
  }
}
