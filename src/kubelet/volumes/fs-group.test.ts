import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Pod, Volume } from "../../api/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { VolumeManager } from "./index.js";
import { setVolumeOwnership } from "./ownership.js";
import { FakeMounter } from "./testing/fake-mounter.js";
import { diskUsageBytes } from "./usage.js";

/** A group we may give files to: any as root, our own otherwise (no root needed). */
const FS_GROUP = process.getuid?.() === 0 ? 4321 : (process.getgid?.() ?? 0);

function tmp(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podrun-fsg-"));
  t.after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function setup(t: TestContext): { vm: VolumeManager; clock: FakeClock; podsDir: string } {
  const podsDir = path.join(tmp(t), "pods");
  const clock = new FakeClock();
  const vm = new VolumeManager({
    podsDir,
    logger: nullLogger,
    clock,
    mounter: new FakeMounter(),
    sources: {
      getConfigMap: () =>
        Promise.resolve({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "cm" },
          data: { "a/b": "x" },
        }),
      getSecret: () =>
        Promise.resolve({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "s" },
          data: { k: Buffer.from("v").toString("base64") },
        }),
    },
  });
  return { vm, clock, podsDir };
}

function pod(volumes: Volume[], fsGroup?: number): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", uid: "uid-1" },
    spec: {
      containers: [{ name: "app" }],
      volumes,
      ...(fsGroup === undefined ? {} : { securityContext: { fsGroup } }),
    },
  };
}

const mode = (p: string): number => fs.statSync(p).mode & 0o7777;

test("setVolumeOwnership gives every path the group, group rw and setgid directories", async (t) => {
  const dir = tmp(t);
  fs.mkdirSync(path.join(dir, "sub"), { mode: 0o700 });
  fs.chmodSync(path.join(dir, "sub"), 0o700);
  fs.writeFileSync(path.join(dir, "sub", "f"), "x", { mode: 0o600 });
  fs.chmodSync(path.join(dir, "sub", "f"), 0o600);
  fs.symlinkSync("sub/f", path.join(dir, "link"));
  await setVolumeOwnership(dir, FS_GROUP, { readOnly: false, policy: "Always" });
  assert.equal(fs.statSync(path.join(dir, "sub", "f")).gid, FS_GROUP);
  assert.equal(fs.lstatSync(path.join(dir, "link")).gid, FS_GROUP);
  assert.equal(mode(path.join(dir, "sub")), 0o2770);
  assert.equal(mode(path.join(dir, "sub", "f")), 0o660);
  // Read-only volumes get group read only; the walk is idempotent.
  const ro = tmp(t);
  fs.writeFileSync(path.join(ro, "f"), "x", { mode: 0o400 });
  fs.chmodSync(path.join(ro, "f"), 0o400);
  await setVolumeOwnership(ro, FS_GROUP, { readOnly: true, policy: "Always" });
  assert.equal(mode(path.join(ro, "f")), 0o440);
  assert.equal(await setVolumeOwnership(ro, FS_GROUP, { readOnly: true, policy: "Always" }), 0);
});

test("setVolumeOwnership with OnRootMismatch skips the walk when the root already matches", async (t) => {
  const dir = tmp(t);
  await setVolumeOwnership(dir, FS_GROUP, { readOnly: false, policy: "Always" });
  fs.writeFileSync(path.join(dir, "late"), "x", { mode: 0o600 });
  fs.chmodSync(path.join(dir, "late"), 0o600);
  assert.equal(
    await setVolumeOwnership(dir, FS_GROUP, { readOnly: false, policy: "OnRootMismatch" }),
    0,
  );
  assert.equal(mode(path.join(dir, "late")), 0o600);
  assert.ok((await setVolumeOwnership(dir, FS_GROUP, { readOnly: false, policy: "Always" })) > 0);
  assert.equal(mode(path.join(dir, "late")), 0o660);
});

test("VolumeManager.setUp applies fsGroup to emptyDir and projected volumes, stably across refreshes", async (t) => {
  const { vm } = setup(t);
  const p = pod(
    [
      { name: "data", emptyDir: {} },
      { name: "cm", configMap: { name: "cm" } },
      { name: "s", secret: { secretName: "s", defaultMode: 0o400 } },
    ],
    FS_GROUP,
  );
  await vm.setUp(p, new AbortController().signal);
  const data = vm.volumeDir(p, p.spec.volumes![0]!);
  const cmDir = vm.volumeDir(p, p.spec.volumes![1]!);
  const sDir = vm.volumeDir(p, p.spec.volumes![2]!);
  assert.equal(fs.statSync(data).gid, FS_GROUP);
  assert.equal(mode(data), 0o2777);
  assert.equal(fs.statSync(path.join(cmDir, "a", "b")).gid, FS_GROUP);
  assert.equal(mode(path.join(cmDir, "a")) & 0o2000, 0o2000);
  assert.equal(mode(path.join(sDir, "k")), 0o440);
  const before = fs.readlinkSync(path.join(sDir, "..data"));
  await vm.refresh(p, new AbortController().signal);
  // Raised modes are part of the payload, so an unchanged secret is not rewritten.
  assert.equal(fs.readlinkSync(path.join(sDir, "..data")), before);
  // Without fsGroup nothing changes.
  const { vm: vm2 } = setup(t);
  const q = pod([{ name: "s", secret: { secretName: "s", defaultMode: 0o400 } }]);
  await vm2.setUp(q, new AbortController().signal);
  assert.equal(mode(path.join(vm2.volumeDir(q, q.spec.volumes![0]!), "k")), 0o400);
});

test("diskUsageBytes sums allocated blocks, counting hard links once", async (t) => {
  const dir = tmp(t);
  assert.equal(await diskUsageBytes(path.join(dir, "missing")), 0);
  const empty = await diskUsageBytes(dir);
  fs.writeFileSync(path.join(dir, "f"), Buffer.alloc(256 * 1024, 1));
  fs.linkSync(path.join(dir, "f"), path.join(dir, "g"));
  const used = await diskUsageBytes(dir);
  assert.ok(used - empty >= 256 * 1024, `used ${String(used)}`);
  assert.ok(used - empty < 2 * 256 * 1024, `hard link counted twice: ${String(used)}`);
});

test("emptyDirLimitExceeded reports the first emptyDir above its sizeLimit with upstream's message", async (t) => {
  const { vm, clock } = setup(t);
  const p = pod([
    { name: "small", emptyDir: { sizeLimit: "1Mi" } },
    { name: "nolimit", emptyDir: {} },
  ]);
  await vm.setUp(p, new AbortController().signal);
  const dir = vm.volumeDir(p, p.spec.volumes![0]!);
  fs.writeFileSync(path.join(dir, "f"), Buffer.alloc(512 * 1024, 1));
  assert.equal(await vm.emptyDirLimitExceeded(p), undefined);
  fs.writeFileSync(path.join(dir, "g"), Buffer.alloc(1024 * 1024, 1));
  // The measurement is reused for 2 s…
  assert.equal(await vm.emptyDirLimitExceeded(p), undefined);
  await clock.advance(2000);
  const over = await vm.emptyDirLimitExceeded(p);
  assert.ok(over !== undefined);
  assert.equal(over.volume, "small");
  assert.equal(over.message, 'Usage of EmptyDir volume "small" exceeds the limit "1Mi". ');
  // A volume without a limit is never reported.
  const q = pod([{ name: "nolimit", emptyDir: {} }]);
  assert.equal(await vm.emptyDirLimitExceeded(q), undefined);
});
