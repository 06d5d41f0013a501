import type { Mounter } from "../mounter.js";

/** An in-memory Mounter: records tmpfs mounts without touching the kernel. */
export class FakeMounter implements Mounter {
  readonly mounts = new Map<string, number | undefined>();
  readonly calls: string[] = [];
  #failNext: Error | undefined;

  /** Makes the next mountTmpfs call reject with `err`. */
  failNext(err: Error): void {
    this.#failNext = err;
  }

  mountTmpfs(dir: string, sizeBytes: number | undefined): Promise<void> {
    this.calls.push(`mount ${dir} ${String(sizeBytes)}`);
    const err = this.#failNext;
    if (err !== undefined) {
      this.#failNext = undefined;
      return Promise.reject(err);
    }
    this.mounts.set(dir, sizeBytes);
    return Promise.resolve();
  }

  unmount(dir: string): Promise<void> {
    this.calls.push(`umount ${dir}`);
    this.mounts.delete(dir);
    return Promise.resolve();
  }

  isMountPoint(dir: string): Promise<boolean> {
    return Promise.resolve(this.mounts.has(dir));
  }

  mountsUnder(dir: string): Promise<string[]> {
    return Promise.resolve(
      [...this.mounts.keys()]
        .filter((m) => m === dir || m.startsWith(dir + "/"))
        .sort((a, b) => b.length - a.length),
    );
  }
}
