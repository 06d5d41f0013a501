import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as net from "node:net";
import type { ConfigMap, Pod, Secret, Volume } from "../../api/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { ContainerConfigError } from "../env.js";
import { VolumeManager, VolumeSetupError, type VolumeSources } from "./index.js";
import { FakeMounter } from "./testing/fake-mounter.js";

interface Env {
  dir: string;
  vm: VolumeManager;
  mounter: FakeMounter;
  clock: FakeClock;
  cms: Map<string, ConfigMap>;
  secrets: Map<string, Secret>;
}

function setup(t: TestContext, sources: Partial<VolumeSources> = {}): Env {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podrun-vol-"));
  t.after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const cms = new Map<string, ConfigMap>();
  const secrets = new Map<string, Secret>();
  const mounter = new FakeMounter();
  const clock = new FakeClock();
  const vm = new VolumeManager({
    podsDir: path.join(dir, "pods"),
    logger: nullLogger,
    clock,
    mounter,
    nodeAllocatable: { cpu: 2, memoryBytes: 2 ** 30, ephemeralStorageBytes: 2 ** 34 },
    sources: {
      getConfigMap: (_ns, n) => Promise.resolve(cms.get(n)),
      getSecret: (_ns, n) => Promise.resolve(secrets.get(n)),
      ...sources,
    },
  });
  return { dir, vm, mounter, clock, cms, secrets };
}

function pod(volumes: Volume[]): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "team", uid: "uid-1", labels: { app: "web", tier: "fe" } },
    spec: {
      containers: [{ name: "app", resources: { limits: { memory: "64Mi" } } }],
      volumes,
    },
  };
}

function cm(name: string, data: Record<string, string>): ConfigMap {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data };
}

const signal = new AbortController().signal;

async function setUpError(vm: VolumeManager, p: Pod): Promise<VolumeSetupError> {
  try {
    await vm.setUp(p, signal);
  } catch (err) {
    if (err instanceof VolumeSetupError) return err;
    throw err;
  }
  assert.fail("setUp succeeded");
}

test("PL-VOL-1 PL-VOL-3 emptyDir on disk and in memory", async (t) => {
  const e = setup(t);
  const p = pod([
    { name: "scratch", emptyDir: {} },
    { name: "mem", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
  ]);
  await e.vm.setUp(p, signal);
  const scratch = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~empty-dir/scratch");
  assert.equal(fs.statSync(scratch).mode & 0o777, 0o777);
  const mem = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~empty-dir/mem");
  assert.equal(e.mounter.mounts.get(mem), 16 * 2 ** 20);
  fs.writeFileSync(path.join(scratch, "keep"), "x");
  await e.vm.setUp(p, signal);
  assert.equal(fs.readFileSync(path.join(scratch, "keep"), "utf8"), "x");
  assert.equal(e.mounter.calls.filter((c) => c.startsWith("mount")).length, 1);

  const noLimit = pod([{ name: "mem", emptyDir: { medium: "Memory" } }]);
  noLimit.metadata.uid = "uid-2";
  await e.vm.setUp(noLimit, signal);
  // Smallest of node allocatable (1Gi) and the pod memory limit (64Mi).
  assert.equal(
    e.mounter.mounts.get(path.join(e.dir, "pods/uid-2/volumes/kubernetes.io~empty-dir/mem")),
    64 * 2 ** 20,
  );

  await e.vm.tearDown("uid-1");
  assert.equal(fs.existsSync(path.join(e.dir, "pods/uid-1")), false);
  assert.equal(e.mounter.mounts.has(mem), false);
  await e.vm.tearDown("uid-1");
});

test("PL-VOL-4 hostPath type checks", async (t) => {
  const e = setup(t);
  const file = path.join(e.dir, "file");
  fs.writeFileSync(file, "");
  const cases: [string, string, string | undefined][] = [
    [e.dir, "Directory", undefined],
    [file, "Directory", `hostPath type check failed: ${file} is not a directory`],
    [e.dir, "File", `hostPath type check failed: ${e.dir} is not a file`],
    [file, "Socket", `hostPath type check failed: ${file} is not a socket file`],
    [file, "CharDevice", `hostPath type check failed: ${file} is not a character device`],
    [file, "BlockDevice", `hostPath type check failed: ${file} is not a block device`],
    ["/dev/null", "CharDevice", undefined],
    [
      path.join(e.dir, "absent"),
      "Directory",
      `hostPath type check failed: ${path.join(e.dir, "absent")} is not a directory`,
    ],
    [file, "", undefined],
  ];
  for (const [p, type, msg] of cases) {
    const po = pod([{ name: "h", hostPath: { path: p, type } }]);
    if (msg === undefined) {
      await e.vm.setUp(po, signal);
    } else {
      const err = await setUpError(e.vm, po);
      assert.equal(err.message, `MountVolume.SetUp failed for volume "h" : ${msg}`);
    }
  }
  const created = path.join(e.dir, "made/sub");
  await e.vm.setUp(
    pod([{ name: "h", hostPath: { path: created, type: "DirectoryOrCreate" } }]),
    signal,
  );
  assert.equal(fs.statSync(created).mode & 0o777, 0o755);
  const newFile = path.join(e.dir, "newfile");
  await e.vm.setUp(pod([{ name: "h", hostPath: { path: newFile, type: "FileOrCreate" } }]), signal);
  assert.equal(fs.statSync(newFile).mode & 0o777, 0o644);
  assert.ok(fs.statSync(newFile).isFile());

  const sock = path.join(e.dir, "s.sock");
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(sock, r));
  t.after(() => {
    server.close();
  });
  await e.vm.setUp(pod([{ name: "h", hostPath: { path: sock, type: "Socket" } }]), signal);
});

test("PL-VOL-5 PL-VOL-6 configMap volume with the atomic writer and updates", async (t) => {
  const e = setup(t);
  e.cms.set("cfg", cm("cfg", { "a.txt": "one", "b.txt": "two" }));
  const p = pod([{ name: "c", configMap: { name: "cfg" } }]);
  await e.vm.setUp(p, signal);
  const dir = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~configmap/c");
  assert.equal(fs.readlinkSync(path.join(dir, "a.txt")), "..data/a.txt");
  const ts1 = fs.readlinkSync(path.join(dir, "..data"));
  assert.match(ts1, /^\.\.2025_01_01_00_00_00\.\w+$/);
  assert.equal(fs.readFileSync(path.join(dir, "a.txt"), "utf8"), "one");
  assert.equal(fs.statSync(path.join(dir, "a.txt")).mode & 0o777, 0o644);

  // Unchanged content: no new timestamped dir.
  await e.vm.refresh(p, signal);
  assert.equal(fs.readlinkSync(path.join(dir, "..data")), ts1);

  await e.clock.advance(61_000);
  e.cms.set("cfg", cm("cfg", { "a.txt": "uno", "c.txt": "tres" }));
  await e.vm.refresh(p, signal);
  const ts2 = fs.readlinkSync(path.join(dir, "..data"));
  assert.notEqual(ts2, ts1);
  assert.match(ts2, /^\.\.2025_01_01_00_01_01\./);
  assert.equal(fs.readFileSync(path.join(dir, "a.txt"), "utf8"), "uno");
  assert.equal(fs.existsSync(path.join(dir, "b.txt")), false);
  assert.equal(fs.existsSync(path.join(dir, ts1)), false);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["..data", ts2, "a.txt", "c.txt"].sort());
});

test("PL-VOL-7 items, modes, optional and missing errors", async (t) => {
  const e = setup(t);
  e.cms.set("cfg", cm("cfg", { k1: "v1", k2: "v2" }));
  const p = pod([
    {
      name: "c",
      configMap: {
        name: "cfg",
        defaultMode: 0o600,
        items: [
          { key: "k1", path: "sub/one" },
          { key: "k2", path: "two", mode: 0o400 },
        ],
      },
    },
    { name: "opt", configMap: { name: "missing", optional: true } },
  ]);
  await e.vm.setUp(p, signal);
  const dir = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~configmap/c");
  assert.equal(fs.readFileSync(path.join(dir, "sub/one"), "utf8"), "v1");
  assert.equal(fs.readlinkSync(path.join(dir, "sub")), "..data/sub");
  assert.equal(fs.statSync(path.join(dir, "sub/one")).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(dir, "two")).mode & 0o777, 0o400);
  assert.deepEqual(
    fs
      .readdirSync(path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~configmap/opt"))
      .filter((n) => !n.startsWith("..")),
    [],
  );

  const cases: [Volume, string][] = [
    [{ name: "v", configMap: { name: "nope" } }, 'configmap "nope" not found'],
    [{ name: "v", secret: { secretName: "nope" } }, 'secret "nope" not found'],
    [
      { name: "v", configMap: { name: "cfg", items: [{ key: "zz", path: "zz" }] } },
      "configmap references non-existent config key: zz",
    ],
    [
      { name: "v", persistentVolumeClaim: { claimName: "x" } },
      "persistentVolumeClaim volumes are not supported on this node",
    ],
  ];
  for (const [v, msg] of cases) {
    const err = await setUpError(e.vm, pod([v]));
    assert.equal(err.message, `MountVolume.SetUp failed for volume "v" : ${msg}`);
    assert.equal(err.volume, "v");
  }
  await e.vm.setUp(
    pod([
      { name: "v", configMap: { name: "cfg", optional: true, items: [{ key: "zz", path: "zz" }] } },
    ]),
    signal,
  );
});

test("PL-VOL-6 secret volume lives on tmpfs and decodes data", async (t) => {
  const e = setup(t);
  e.secrets.set("s", {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "s" },
    data: { password: Buffer.from("hunter2").toString("base64") },
  });
  await e.vm.setUp(pod([{ name: "sec", secret: { secretName: "s", defaultMode: 0o440 } }]), signal);
  const dir = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~secret/sec");
  assert.ok(e.mounter.mounts.has(dir));
  assert.equal(fs.readFileSync(path.join(dir, "password"), "utf8"), "hunter2");
  assert.equal(fs.statSync(path.join(dir, "password")).mode & 0o777, 0o440);
});

test("PL-VOL-9 downwardAPI file formats", async (t) => {
  const e = setup(t);
  const p = pod([
    {
      name: "d",
      downwardAPI: {
        items: [
          { path: "labels", fieldRef: { fieldPath: "metadata.labels" } },
          { path: "name", fieldRef: { fieldPath: "metadata.name" } },
          { path: "app", fieldRef: { fieldPath: "metadata.labels['app']" } },
          {
            path: "mem",
            resourceFieldRef: { containerName: "app", resource: "limits.memory", divisor: "1Mi" },
          },
          { path: "cpu", resourceFieldRef: { containerName: "app", resource: "limits.cpu" } },
        ],
      },
    },
  ]);
  await e.vm.setUp(p, signal);
  const dir = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~downward-api/d");
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), "utf8");
  assert.equal(read("labels"), 'app="web"\ntier="fe"');
  assert.equal(read("name"), "web");
  assert.equal(read("app"), "web");
  assert.equal(read("mem"), "64");
  assert.equal(read("cpu"), "2");
  p.metadata.labels = { app: "web2" };
  await e.vm.refresh(p, signal);
  assert.equal(read("labels"), 'app="web2"');
});

test("PL-VOL-12 projected token, ca.crt and namespace", async (t) => {
  const calls: string[] = [];
  const e = setup(t, {
    caPem: "CA\n",
    serviceAccountToken: (p, aud, exp) => {
      calls.push(`${p.metadata.name ?? ""} ${aud} ${String(exp)}`);
      return Promise.resolve("tok");
    },
  });
  const v: Volume = {
    name: "kube-api-access-abcde",
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { path: "token", expirationSeconds: 3607 } },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        {
          downwardAPI: {
            items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
          },
        },
      ],
    },
  };
  await e.vm.setUp(pod([v]), signal);
  const dir = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~projected/kube-api-access-abcde");
  assert.ok(e.mounter.mounts.has(dir));
  assert.equal(fs.readFileSync(path.join(dir, "token"), "utf8"), "tok");
  assert.equal(fs.readFileSync(path.join(dir, "ca.crt"), "utf8"), "CA\n");
  assert.equal(fs.readFileSync(path.join(dir, "namespace"), "utf8"), "team");
  assert.deepEqual(calls, ["web  3607"]);

  const e2 = setup(t, { caPem: "CA\n" });
  await e2.vm.setUp(pod([v]), signal);
  const dir2 = path.join(
    e2.dir,
    "pods/uid-1/volumes/kubernetes.io~projected/kube-api-access-abcde",
  );
  assert.equal(fs.existsSync(path.join(dir2, "token")), false);
  const e3 = setup(t);
  const err = await setUpError(e3.vm, pod([{ ...v, name: "x" }]));
  assert.equal(err.detail, 'configmap "kube-root-ca.crt" not found');
});

test("PL-VOL-10 PL-VOL-11 mountsFor: subPath, subPathExpr, readOnly, propagation", async (t) => {
  const e = setup(t);
  e.cms.set("cfg", cm("cfg", { "app.conf": "x" }));
  const p = pod([
    { name: "data", emptyDir: {} },
    { name: "cfg", configMap: { name: "cfg" } },
  ]);
  await e.vm.setUp(p, signal);
  const vdir = path.join(e.dir, "pods/uid-1/volumes/kubernetes.io~empty-dir/data");
  const c = {
    name: "app",
    volumeMounts: [
      { name: "data", mountPath: "/data", mountPropagation: "HostToContainer" as const },
      { name: "data", mountPath: "/logs", subPathExpr: "logs/$(POD)" },
      { name: "cfg", mountPath: "/etc/app.conf", subPath: "app.conf" },
      { name: "data", mountPath: "/etc/hosts", subPath: "myhosts", readOnly: true },
    ],
  };
  const mounts = e.vm.mountsFor(p, c, new Map([["POD", "web"]]));
  const realVdir = fs.realpathSync(vdir);
  assert.deepEqual(mounts.slice(0, 2), [
    {
      containerPath: "/data",
      hostPath: vdir,
      type: "bind",
      readOnly: false,
      propagation: "rslave",
    },
    {
      containerPath: "/logs",
      hostPath: path.join(realVdir, "logs/web"),
      type: "bind",
      readOnly: false,
      propagation: "private",
    },
  ]);
  assert.ok(fs.statSync(path.join(vdir, "logs/web")).isDirectory());
  assert.equal(mounts[2]?.readOnly, true);
  assert.match(mounts[2].hostPath, /\/\.\.2025_01_01_00_00_00\.\w+\/app\.conf$/);
  assert.equal(mounts[3]?.readOnly, true);
  assert.equal(mounts.length, 4);
  fs.symlinkSync("/etc", path.join(vdir, "escape"));
  const bad: [string, string][] = [
    ["../x", "unable to provision SubPath `../x`: must not contain '..'"],
    ["/abs", "unable to provision SubPath `/abs`: must be a relative path"],
    ["escape", `subpath "${path.join(vdir, "escape")}" not within volume path "${vdir}"`],
    ["escape/new", `subpath "${path.join(vdir, "escape/new")}" not within volume path "${vdir}"`],
  ];
  for (const [sub, msg] of bad) {
    assert.throws(
      () =>
        e.vm.mountsFor(
          p,
          { name: "app", volumeMounts: [{ name: "data", mountPath: "/x", subPath: sub }] },
          new Map(),
        ),
      (err: unknown) => err instanceof ContainerConfigError && err.message === msg,
      sub,
    );
  }
  assert.throws(
    () =>
      e.vm.mountsFor(
        p,
        { name: "app", volumeMounts: [{ name: "data", mountPath: "/x", subPathExpr: "$(NOPE)" }] },
        new Map(),
      ),
    { message: "missing value for NOPE" },
  );
  assert.throws(
    () =>
      e.vm.mountsFor(
        p,
        { name: "app", volumeMounts: [{ name: "ghost", mountPath: "/x" }] },
        new Map(),
      ),
    { message: 'cannot find volume "ghost" to mount into container "app"' },
  );
});

test("VolumeManager setUp stops when the signal is aborted", async (t) => {
  const e = setup(t);
  const ac = new AbortController();
  ac.abort(new Error("stop"));
  await assert.rejects(e.vm.setUp(pod([{ name: "x", emptyDir: {} }]), ac.signal), {
    message: "stop",
  });
});
