import type { ContainerSecurity, LinuxResources, Mount } from "../types.js";

/** The default capability set of Docker/containerd, without the `CAP_` prefix. */
export const DEFAULT_CAPABILITIES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FSETID",
  "FOWNER",
  "MKNOD",
  "NET_RAW",
  "SETGID",
  "SETUID",
  "SETFCAP",
  "SETPCAP",
  "NET_BIND_SERVICE",
  "SYS_CHROOT",
  "KILL",
  "AUDIT_WRITE",
];

/** Every capability runc 1.1 knows; granted to privileged containers. */
const ALL_CAPABILITIES = [
  ...DEFAULT_CAPABILITIES,
  "DAC_READ_SEARCH",
  "LINUX_IMMUTABLE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "LEASE",
  "AUDIT_CONTROL",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
];

/** Paths masked in unprivileged containers. */
export const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Paths made read-only in unprivileged containers. */
export const READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** RLIMIT_NOFILE given to containers: modest, since the host refuses more than 20000. */
export const NOFILE_LIMIT = 1024 * 16;

/** One namespace entry of an OCI spec; `path` joins an existing namespace. */
export interface SpecNamespace {
  type: "pid" | "network" | "ipc" | "uts" | "mount" | "cgroup";
  path?: string;
}

/** Input of {@link buildSpec}: everything already resolved to host paths and numbers. */
export interface SpecInput {
  rootfs: string;
  readonlyRootfs: boolean;
  argv: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  terminal: boolean;
  hostname?: string;
  mounts: Mount[];
  /** Host path of the sandbox's /dev/shm to bind, or undefined to mount a fresh tmpfs. */
  shmPath?: string;
  namespaces: SpecNamespace[];
  cgroupsPath: string;
  resources?: LinuxResources;
  security?: ContainerSecurity;
  sysctls?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Builds an OCI runtime spec (config.json) for runc. Pure. */
export function buildSpec(input: SpecInput): Record<string, unknown> {
  const sec = input.security ?? {};
  const privileged = sec.privileged === true;
  let caps = privileged ? [...ALL_CAPABILITIES] : [...DEFAULT_CAPABILITIES];
  const add = sec.capabilitiesAdd ?? [];
  const drop = sec.capabilitiesDrop ?? [];
  if (add.includes("ALL")) caps = [...ALL_CAPABILITIES];
  else for (const c of add) if (!caps.includes(c)) caps.push(c);
  if (drop.includes("ALL")) caps = add.includes("ALL") ? caps : [...add];
  else caps = caps.filter((c) => !drop.includes(c));
  const capNames = caps.map((c) => `CAP_${c}`);

  const mounts: Record<string, unknown>[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    input.shmPath === undefined
      ? {
          destination: "/dev/shm",
          type: "tmpfs",
          source: "shm",
          options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        }
      : { destination: "/dev/shm", type: "bind", source: input.shmPath, options: ["rbind", "rw"] },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", privileged ? "rw" : "ro"],
    },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", privileged ? "rw" : "ro"],
    },
  ];
  for (const m of input.mounts) {
    if (m.type === "tmpfs") {
      const opts = ["nosuid", "nodev", "mode=1777"];
      if (m.sizeBytes !== undefined) opts.push(`size=${m.sizeBytes}`);
      if (m.readOnly === true) opts.push("ro");
      mounts.push({ destination: m.containerPath, type: "tmpfs", source: "tmpfs", options: opts });
      continue;
    }
    const opts = ["rbind", m.readOnly === true ? "ro" : "rw"];
    opts.push(m.propagation ?? "rprivate");
    mounts.push({ destination: m.containerPath, type: "bind", source: m.hostPath, options: opts });
  }

  const res = input.resources;
  const linuxResources: Record<string, unknown> = {
    devices: [{ allow: privileged, access: "rwm" }],
  };
  if (res !== undefined) {
    const cpu: Record<string, number> = {};
    if (res.cpuShares !== undefined) cpu["shares"] = res.cpuShares;
    if (res.cpuQuotaUs !== undefined) {
      cpu["quota"] = res.cpuQuotaUs;
      cpu["period"] = res.cpuPeriodUs ?? 100000;
    }
    if (Object.keys(cpu).length > 0) linuxResources["cpu"] = cpu;
    if (res.memoryLimitBytes !== undefined) {
      linuxResources["memory"] = { limit: res.memoryLimitBytes, swap: res.memoryLimitBytes };
    }
    if (res.pidsLimit !== undefined) linuxResources["pids"] = { limit: res.pidsLimit };
  }
  if (!privileged) {
    // The devices every container gets (runc adds the nodes; these rules allow using them).
    linuxResources["devices"] = [
      { allow: false, access: "rwm" },
      ...[
        [1, 3],
        [1, 5],
        [1, 7],
        [1, 8],
        [1, 9],
        [5, 0],
        [5, 1],
        [5, 2],
        [136, -1],
      ].map(([major, minor]) => ({
        allow: true,
        type: "c",
        major,
        ...(minor === -1 ? {} : { minor }),
        access: "rwm",
      })),
    ];
  }

  const process: Record<string, unknown> = {
    terminal: input.terminal,
    user: {
      uid: input.uid,
      gid: input.gid,
      ...(input.additionalGids.length > 0 ? { additionalGids: input.additionalGids } : {}),
    },
    args: input.argv,
    env: input.env,
    cwd: input.cwd,
    capabilities: {
      bounding: capNames,
      effective: capNames,
      permitted: capNames,
    },
    rlimits: [{ type: "RLIMIT_NOFILE", hard: NOFILE_LIMIT, soft: NOFILE_LIMIT }],
    noNewPrivileges: sec.noNewPrivileges === true,
  };
  if (res?.oomScoreAdj !== undefined) process["oomScoreAdj"] = res.oomScoreAdj;

  const linux: Record<string, unknown> = {
    resources: linuxResources,
    cgroupsPath: input.cgroupsPath,
    namespaces: [{ type: "mount" }, ...input.namespaces],
  };
  if (!privileged) {
    linux["maskedPaths"] = MASKED_PATHS;
    linux["readonlyPaths"] = READONLY_PATHS;
  }
  if (input.sysctls !== undefined && Object.keys(input.sysctls).length > 0) {
    linux["sysctl"] = input.sysctls;
  }

  return {
    ociVersion: "1.0.2",
    process,
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    ...(input.hostname === undefined ? {} : { hostname: input.hostname }),
    mounts,
    linux,
    ...(input.annotations === undefined ? {} : { annotations: input.annotations }),
  };
}

/** A resolved user: ids for the OCI process. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

/**
 * Resolves an image `User` string (`1000`, `nobody`, `1000:1000`, `app:staff`) against the
 * contents of the image's /etc/passwd and /etc/group. Unknown names throw RangeError.
 */
export function resolveUser(spec: string, passwd: string, group: string): ResolvedUser {
  const [userPart = "", groupPart] = spec.split(":");
  const pw = passwd
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 4);
  const gr = group
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 3);
  let uid: number;
  let gid: number | undefined;
  let userName: string | undefined;
  if (userPart === "") {
    uid = 0;
  } else if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const e = pw.find((f) => f[2] === userPart);
    if (e !== undefined) {
      gid = Number(e[3]);
      userName = e[0];
    }
  } else {
    const e = pw.find((f) => f[0] === userPart);
    if (e === undefined)
      throw new RangeError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = Number(e[2]);
    gid = Number(e[3]);
    userName = userPart;
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = gr.find((f) => f[0] === groupPart);
      if (g === undefined)
        throw new RangeError(
          `unable to find group ${groupPart}: no matching entries in group file`,
        );
      gid = Number(g[2]);
    }
  }
  const finalGid = gid ?? 0;
  const additionalGids =
    userName === undefined
      ? []
      : gr
          .filter((g) => (g[3] ?? "").split(",").includes(userName) && Number(g[2]) !== finalGid)
          .map((g) => Number(g[2]));
  return { uid, gid: finalGid, additionalGids };
}
