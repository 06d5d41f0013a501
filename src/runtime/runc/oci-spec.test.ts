import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIps } from "../network/cni.js";
import {
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  buildSpec,
  resolveUser,
  type SpecInput,
} from "./oci-spec.js";
import { ociMessage } from "./runc-runtime.js";

const base: SpecInput = {
  rootfs: "/b/rootfs",
  readonlyRootfs: false,
  argv: ["sh"],
  env: ["PATH=/bin"],
  cwd: "/",
  uid: 0,
  gid: 0,
  additionalGids: [],
  terminal: false,
  mounts: [],
  namespaces: [{ type: "network", path: "/run/ns/net" }, { type: "pid" }],
  cgroupsPath: "/podrun/pod1/c1",
};

interface Spec {
  process: {
    capabilities: { bounding: string[] };
    rlimits: { type: string; hard: number }[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { readonly: boolean };
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    namespaces: { type: string; path?: string }[];
    maskedPaths?: string[];
    readonlyPaths?: string[];
    resources: {
      memory?: { limit: number };
      cpu?: { shares?: number; quota?: number; period?: number };
    };
    cgroupsPath: string;
  };
}

const spec = (over: Partial<SpecInput> = {}): Spec =>
  buildSpec({ ...base, ...over }) as unknown as Spec;

test("buildSpec gives the default capability set plus add minus drop", () => {
  const s = spec({ security: { capabilitiesAdd: ["NET_ADMIN"], capabilitiesDrop: ["KILL"] } });
  const caps = s.process.capabilities.bounding;
  assert.ok(caps.includes("CAP_NET_ADMIN"));
  assert.ok(!caps.includes("CAP_KILL"));
  assert.equal(caps.length, DEFAULT_CAPABILITIES.length);
  const none = spec({ security: { capabilitiesDrop: ["ALL"], capabilitiesAdd: ["CHOWN"] } });
  assert.deepEqual(none.process.capabilities.bounding, ["CAP_CHOWN"]);
});

test("buildSpec masks and read-only paths unless privileged", () => {
  const s = spec();
  assert.deepEqual(s.linux.maskedPaths, MASKED_PATHS);
  assert.ok(s.linux.readonlyPaths?.includes("/proc/sys"));
  const p = spec({ security: { privileged: true } });
  assert.equal(p.linux.maskedPaths, undefined);
  assert.ok(p.process.capabilities.bounding.includes("CAP_SYS_ADMIN"));
});

test("buildSpec maps resources, namespaces, mounts and a modest NOFILE limit", () => {
  const s = spec({
    resources: { memoryLimitBytes: 16 << 20, cpuShares: 512, cpuQuotaUs: 50000, oomScoreAdj: 500 },
    readonlyRootfs: true,
    security: { noNewPrivileges: true },
    shmPath: "/run/ns/shm",
    mounts: [
      { containerPath: "/data", hostPath: "/h/data", readOnly: true, propagation: "rslave" },
      { containerPath: "/scratch", hostPath: "", type: "tmpfs", sizeBytes: 1024 },
    ],
  });
  assert.equal(s.linux.resources.memory?.limit, 16 << 20);
  assert.deepEqual(s.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000 });
  assert.equal(s.process.oomScoreAdj, 500);
  assert.equal(s.root.readonly, true);
  assert.equal(s.process.noNewPrivileges, true);
  assert.equal(s.linux.cgroupsPath, "/podrun/pod1/c1");
  assert.deepEqual(s.linux.namespaces, [
    { type: "mount" },
    { type: "network", path: "/run/ns/net" },
    { type: "pid" },
  ]);
  const shm = s.mounts.find((m) => m.destination === "/dev/shm");
  assert.equal(shm?.source, "/run/ns/shm");
  const data = s.mounts.find((m) => m.destination === "/data");
  assert.deepEqual(data?.options, ["rbind", "ro", "rslave"]);
  const scratch = s.mounts.find((m) => m.destination === "/scratch");
  assert.equal(scratch?.type, "tmpfs");
  assert.ok(scratch.options.includes("size=1024"));
  for (const d of ["/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys"]) {
    assert.ok(
      s.mounts.some((m) => m.destination === d),
      d,
    );
  }
  const nofile = s.process.rlimits.find((r) => r.type === "RLIMIT_NOFILE");
  assert.ok(nofile !== undefined && nofile.hard <= 20000);
});

const passwd =
  "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n";
const group = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n";

test("resolveUser resolves names and numbers through passwd and group", () => {
  assert.deepEqual(resolveUser("", passwd, group), { uid: 0, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser("nobody", passwd, group), {
    uid: 65534,
    gid: 65534,
    additionalGids: [],
  });
  assert.deepEqual(resolveUser("app", passwd, group), {
    uid: 1000,
    gid: 1000,
    additionalGids: [50],
  });
  assert.deepEqual(resolveUser("1000:staff", passwd, group), {
    uid: 1000,
    gid: 50,
    additionalGids: [],
  });
  assert.deepEqual(resolveUser("4242", passwd, group), { uid: 4242, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser("65535:65535", "", ""), {
    uid: 65535,
    gid: 65535,
    additionalGids: [],
  });
  assert.throws(() => resolveUser("ghost", passwd, group), RangeError);
});

test("ociMessage extracts the OCI error of a failed runc create", () => {
  const raw =
    'time="2026-11-23T07:11:23Z" level=error msg="runc create failed: unable to start container process: exec: \\"/nonexistent\\": stat /nonexistent: no such file or directory"\n';
  assert.equal(
    ociMessage(raw),
    'exec: "/nonexistent": stat /nonexistent: no such file or directory',
  );
});

test("parseIps drops prefix lengths from a CNI result", () => {
  assert.deepEqual(parseIps({ ips: [{ address: "10.244.0.5/16" }, { address: "fd00::5/64" }] }), [
    "10.244.0.5",
    "fd00::5",
  ]);
  assert.deepEqual(parseIps(undefined), []);
});
