import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError } from "../errors.js";
import type { LinuxResources } from "../types.js";

/** The cgroup layout of the host: pure v2 (unified) or v1 hierarchies (legacy/hybrid). */
export type CgroupLayout = "v1" | "v2";

const CGROUP_FS = "/sys/fs/cgroup";

/** Detects the layout: v2 when /sys/fs/cgroup itself is the unified hierarchy. */
export function detectCgroupLayout(): CgroupLayout {
  return existsSync(join(CGROUP_FS, "cgroup.controllers")) ? "v2" : "v1";
}

/** The cgroup converting of cpu shares to a v2 weight (PL-RES-4, runc's formula). */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * Cgroup helpers for pod cgroups (made by us) and container cgroups (made by runc).
 * Paths are relative to the hierarchy root, without a leading slash.
 */
export class Cgroups {
  readonly layout: CgroupLayout;
  /** v1: every mounted hierarchy (incl. `systemd` and a hybrid `unified`), where runc makes dirs. */
  readonly #hierarchies: string[];

  constructor(layout: CgroupLayout) {
    this.layout = layout;
    this.#hierarchies =
      layout === "v2"
        ? []
        : readdirSync(CGROUP_FS, { withFileTypes: true })
            .filter((e) => e.isDirectory())
            .map((e) => e.name);
    if (layout === "v1" && !this.#hierarchies.includes("memory")) {
      // Seen under `ip netns exec`, which remounts /sys without the cgroup mounts.
      throw new RuntimeError(
        "Unavailable",
        `no cgroup hierarchies under ${CGROUP_FS} (is /sys remounted? use nsenter --net instead of ip netns exec)`,
      );
    }
  }

  #dirs(path: string): string[] {
    if (this.layout === "v2") return [join(CGROUP_FS, path)];
    return this.#hierarchies.map((h) => join(CGROUP_FS, h, path));
  }

  #file(controller: string, path: string, file: string): string {
    return this.layout === "v2"
      ? join(CGROUP_FS, path, file)
      : join(CGROUP_FS, controller, path, file);
  }

  /** Creates the pod cgroup (and parents) and applies pod-level limits (PL-RES-7). Idempotent. */
  async ensurePod(path: string, res: LinuxResources | undefined): Promise<void> {
    // Only the controllers we write to are needed up front; runc makes the rest.
    const needed =
      this.layout === "v2"
        ? this.#dirs(path)
        : ["cpu", "memory", "pids", "cpuset"]
            .filter((c) => this.#hierarchies.includes(c))
            .map((c) => join(CGROUP_FS, c, path));
    await Promise.all(needed.map((d) => mkdir(d, { recursive: true })));
    if (this.layout === "v1" && this.#hierarchies.includes("cpuset")) {
      // A new cpuset cgroup starts empty; children can only get tasks once cpus/mems are set.
      await this.#inheritCpuset(path);
    }
    if (res === undefined) return;
    const writes: Promise<void>[] = [];
    if (this.layout === "v2") {
      if (res.cpuShares !== undefined)
        writes.push(
          writeFile(this.#file("", path, "cpu.weight"), String(sharesToWeight(res.cpuShares))),
        );
      if (res.cpuQuotaUs !== undefined)
        writes.push(
          writeFile(
            this.#file("", path, "cpu.max"),
            `${res.cpuQuotaUs} ${res.cpuPeriodUs ?? 100000}`,
          ),
        );
      if (res.memoryLimitBytes !== undefined)
        writes.push(writeFile(this.#file("", path, "memory.max"), String(res.memoryLimitBytes)));
      if (res.pidsLimit !== undefined)
        writes.push(writeFile(this.#file("", path, "pids.max"), String(res.pidsLimit)));
    } else {
      if (res.cpuShares !== undefined)
        writes.push(writeFile(this.#file("cpu", path, "cpu.shares"), String(res.cpuShares)));
      if (res.cpuQuotaUs !== undefined) {
        writes.push(
          (async () => {
            await writeFile(
              this.#file("cpu", path, "cpu.cfs_period_us"),
              String(res.cpuPeriodUs ?? 100000),
            );
            await writeFile(this.#file("cpu", path, "cpu.cfs_quota_us"), String(res.cpuQuotaUs));
          })(),
        );
      }
      if (res.memoryLimitBytes !== undefined)
        writes.push(
          writeFile(
            this.#file("memory", path, "memory.limit_in_bytes"),
            String(res.memoryLimitBytes),
          ),
        );
      if (res.pidsLimit !== undefined)
        writes.push(writeFile(this.#file("pids", path, "pids.max"), String(res.pidsLimit)));
    }
    await Promise.all(writes);
  }

  async #inheritCpuset(path: string): Promise<void> {
    const parts = path.split("/").filter((p) => p !== "");
    let cur = "";
    for (const part of parts) {
      const parent = cur;
      cur = cur === "" ? part : `${cur}/${part}`;
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        const mine = join(CGROUP_FS, "cpuset", cur, f);
        if ((await readFile(mine, "utf8")).trim() !== "") continue;
        const v = await readFile(join(CGROUP_FS, "cpuset", parent, f), "utf8");
        await writeFile(mine, v.trim());
      }
    }
  }

  /**
   * Removes the cgroup `path` and then its empty ancestors up to and including `stopAt`.
   * Busy or missing directories are left alone; removal is best effort and idempotent.
   */
  async remove(path: string, stopAt: string): Promise<void> {
    let cur = path;
    for (;;) {
      await Promise.all(this.#dirs(cur).map((d) => rmdir(d).catch(ignoreGone)));
      if (cur === stopAt || !cur.includes("/") || !cur.startsWith(stopAt)) return;
      cur = cur.slice(0, cur.lastIndexOf("/"));
    }
  }

  /** True when any cgroup dir of `path` exists. */
  exists(path: string): boolean {
    return this.#dirs(path).some((d) => existsSync(d));
  }

  /** Whether the cgroup saw an OOM kill. */
  async oomKilled(path: string): Promise<boolean> {
    try {
      if (this.layout === "v2") {
        const ev = await readFile(this.#file("", path, "memory.events"), "utf8");
        return /^oom_kill [1-9]/m.test(ev);
      }
      const ctl = await readFile(this.#file("memory", path, "memory.oom_control"), "utf8");
      return /^oom_kill [1-9]/m.test(ctl);
    } catch (err) {
      if (isGone(err)) return false;
      throw err;
    }
  }

  /** CPU and memory usage of a cgroup. */
  async stats(path: string): Promise<{ cpuNanos: number; memUsage: number; workingSet: number }> {
    if (this.layout === "v2") {
      const [cpu, cur, mstat] = await Promise.all([
        readFile(this.#file("", path, "cpu.stat"), "utf8"),
        readFile(this.#file("", path, "memory.current"), "utf8"),
        readFile(this.#file("", path, "memory.stat"), "utf8"),
      ]);
      const usec = Number(/^usage_usec (\d+)/m.exec(cpu)?.[1] ?? 0);
      const usage = Number(cur.trim());
      const inactive = Number(/^inactive_file (\d+)/m.exec(mstat)?.[1] ?? 0);
      return { cpuNanos: usec * 1000, memUsage: usage, workingSet: Math.max(0, usage - inactive) };
    }
    const [cpu, cur, mstat] = await Promise.all([
      readFile(this.#file("cpuacct", path, "cpuacct.usage"), "utf8"),
      readFile(this.#file("memory", path, "memory.usage_in_bytes"), "utf8"),
      readFile(this.#file("memory", path, "memory.stat"), "utf8"),
    ]);
    const usage = Number(cur.trim());
    const inactive = Number(/^total_inactive_file (\d+)/m.exec(mstat)?.[1] ?? 0);
    return {
      cpuNanos: Number(cpu.trim()),
      memUsage: usage,
      workingSet: Math.max(0, usage - inactive),
    };
  }
}

function isGone(err: unknown): boolean {
  return err instanceof Error && "code" in err && (err.code === "ENOENT" || err.code === "ENOTDIR");
}

function ignoreGone(err: unknown): void {
  // A busy cgroup (another pod still in it) or one already removed is not an error here.
  if (
    err instanceof Error &&
    "code" in err &&
    ["ENOENT", "EBUSY", "ENOTEMPTY"].includes(String(err.code))
  )
    return;
  throw err;
}
