// Pulls through the kubelet from a real registry (Debian's docker-registry, distribution 2.x)
// running inside the cluster's network namespace, configured as a plain-HTTP registry in a
// k3s-style registries.yaml (`podrun up --registries-config`). A gate in front of the registry
// holds blob downloads, which makes "image still pulling" observable (PL-EDGE-4).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { htpasswdLine } from "../../src/runtime/images/testing/docker-registry.js";
import { ROOT, startCluster, testImagesDir, type Cluster } from "./harness.js";

const REGISTRY = "127.0.0.1:5000";
const GATED = "127.0.0.1:5001";
/** Needs basic auth (htpasswd user `puller`). */
const PRIVATE = "127.0.0.1:5002";

describe("image pulls from a registry (PL-IMG, PL-EDGE-4)", { timeout: 240_000 }, () => {
  let c: Cluster;
  /** Set once the cluster runs: `after` must clean up even when `before` failed early. */
  let stopCluster: (() => Promise<void>) | undefined;
  let dir: string;
  const children: ChildProcess[] = [];

  const spawnInNetns = (cmd: string, args: string[]): ChildProcess => {
    // nsenter with only --net execs the command itself, so the PID is the command's.
    const child = spawn("nsenter", [`--net=/run/netns/${c.netns}`, cmd, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    return child;
  };
  const status = async (pod: string): Promise<string> => {
    const out = await c.k(["get", "pod", pod, "--no-headers"]);
    return out.trim().split(/\s+/)[2] ?? "";
  };
  const events = async (pod: string): Promise<string> =>
    c.k([
      "get",
      "events",
      "--field-selector",
      `involvedObject.name=${pod}`,
      "-o",
      "custom-columns=REASON:.reason,MESSAGE:.message",
      "--no-headers",
    ]);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "podrun-pull-"));
    const registriesFile = path.join(dir, "registries.yaml");
    const mirrors = [REGISTRY, GATED, PRIVATE].map(
      (h) => `  "${h}":\n    endpoint: ["http://${h}"]\n`,
    );
    await writeFile(registriesFile, `mirrors:\n${mirrors.join("")}`);
    c = await startCluster({ args: ["--registries-config", registriesFile] });
    stopCluster = () => c.stop();
    const storage = path.join(dir, "storage");
    await mkdir(storage);
    const config = path.join(dir, "config.yml");
    await writeFile(
      config,
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\nhttp:\n  addr: ${REGISTRY}\n`,
    );
    spawnInNetns("/usr/bin/docker-registry", ["serve", config]);
    await mkdir(path.join(dir, "private"));
    await writeFile(path.join(dir, "htpasswd"), await htpasswdLine("puller", "s3cret"));
    const privateConfig = path.join(dir, "private.yml");
    await writeFile(
      privateConfig,
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, "private")}\nhttp:\n  addr: ${PRIVATE}\nauth:\n  htpasswd:\n    realm: podrun-test\n    path: ${path.join(dir, "htpasswd")}\n`,
    );
    spawnInNetns("/usr/bin/docker-registry", ["serve", privateConfig]);
    const gate = spawnInNetns(process.execPath, [
      "--import",
      "tsx",
      path.join(ROOT, "test/e2e/fixtures/gated-registry-proxy.ts"),
      "5001",
      "5000",
      path.join(dir, "release"),
    ]);
    await new Promise<void>((resolve, reject) => {
      gate.stdout?.on("data", () => {
        resolve();
      });
      gate.once("exit", (code) => {
        reject(new Error(`gated proxy exited ${String(code)}`));
      });
    });
    for (const host of [REGISTRY, PRIVATE]) {
      for (let i = 0; ; i++) {
        // Any HTTP answer (200, or 401 from the private one) means it serves.
        const r = await c.inNetns("curl", ["-s", "-o", "/dev/null", `http://${host}/v2/`]);
        if (r.code === 0) break;
        if (i > 100) throw new Error(`docker-registry on ${host} did not start`);
        await sleep(100);
      }
    }
    const images = await testImagesDir();
    // zstd layers (two levels, so the two tags share no layer with each other or with the
    // preloaded gzip busybox:1.28): each pull has to fetch its layer blob.
    for (const [tag, level] of [
      ["pulled", "3"],
      ["gated", "9"],
    ] as const) {
      const r = await c.inNetns("skopeo", [
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        "--dest-compress-format=zstd",
        `--dest-compress-level=${level}`,
        `oci:${path.join(images, "busybox")}:1.28`,
        `docker://${REGISTRY}/test/busybox:${tag}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const r = await c.inNetns("skopeo", [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      "--dest-creds=puller:s3cret",
      "--dest-compress-format=zstd",
      "--dest-compress-level=5",
      `oci:${path.join(images, "busybox")}:1.28`,
      `docker://${PRIVATE}/team/busybox:private`,
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    try {
      await stopCluster?.();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("PL-IMG: an image missing from the store is pulled: Pulling, then Pulled with its size, then Running", async () => {
    const image = `${REGISTRY}/test/busybox:pulled`;
    await c.k(["run", "pulled", `--image=${image}`, "--restart=Never", "--", "sleep", "3600"]);
    await c.waitFor("pod/pulled", "{.status.phase}", "Running", 60_000);
    const ev = await events("pulled");
    assert.match(ev, new RegExp(`Pulling +Pulling image "${image}"`));
    assert.match(
      ev,
      new RegExp(
        `Pulled +Successfully pulled image "${image}" in \\S+ \\(\\S+ including waiting\\)\\. Image size: \\d+ bytes\\.`,
      ),
    );
    const imageID = await c.k([
      "get",
      "pod",
      "pulled",
      "-o",
      "jsonpath={.status.containerStatuses[0].imageID}",
    ]);
    // Same content as the preloaded busybox:1.28: the store keeps one image with both names, and
    // (as containerd) the status names it by a repo digest.
    assert.match(imageID, /^[^@]+\/busybox@sha256:[0-9a-f]{64}$/);
    await c.k(["delete", "pod", "pulled", "--wait=false"]);
  });

  test("PL-EDGE-4: init containers done, app image still pulling → PodInitializing, Initialized=True, ContainersNotReady", async () => {
    const image = `${GATED}/test/busybox:gated`;
    await c.k(["apply", "-f", "-"], {
      input: `apiVersion: v1
kind: Pod
metadata: {name: edge4-pull}
spec:
  initContainers: [{name: init, image: busybox:1.28, command: ["true"]}]
  containers: [{name: app, image: "${image}", command: ["sleep", "3600"]}]
`,
    });
    await c.waitFor(
      "pod/edge4-pull",
      "{.status.initContainerStatuses[0].state.terminated.reason}",
      "Completed",
      60_000,
    );
    await c.waitFor(
      "pod/edge4-pull",
      '{.status.conditions[?(@.type=="Initialized")].status}',
      "True",
    );
    // The blobs are still held by the gate: the pull is in flight.
    assert.match(await events("edge4-pull"), new RegExp(`Pulling +Pulling image "${image}"`));
    assert.equal(await status("edge4-pull"), "PodInitializing");
    const jp = (p: string): Promise<string> =>
      c.k(["get", "pod", "edge4-pull", "-o", `jsonpath=${p}`]);
    assert.equal(await jp("{.status.phase}"), "Pending");
    assert.equal(await jp('{.status.conditions[?(@.type=="ContainersReady")].status}'), "False");
    assert.equal(
      await jp('{.status.conditions[?(@.type=="ContainersReady")].reason}'),
      "ContainersNotReady",
    );
    assert.equal(
      await jp("{.status.containerStatuses[0].state.waiting.reason}"),
      "PodInitializing",
    );
    await writeFile(path.join(dir, "release"), "");
    await c.waitFor("pod/edge4-pull", "{.status.phase}", "Running", 60_000);
    assert.equal(await status("edge4-pull"), "Running");
    await c.k(["delete", "pod", "edge4-pull", "--wait=false"]);
  });

  test("imagePullSecrets: a private registry refuses an anonymous pull and serves one with the pod's dockerconfigjson secret", async () => {
    const image = `${PRIVATE}/team/busybox:private`;
    const pod = (name: string, secret?: string): string => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  ${secret === undefined ? "" : `imagePullSecrets: [{name: ${secret}}]`}
  containers: [{name: app, image: "${image}", command: ["sleep", "3600"]}]
`;
    // No credentials at all: the registry answers 401 and the pull fails.
    await c.k(["apply", "-f", "-"], { input: pod("anon") });
    await c.waitFor(
      "pod/anon",
      "{.status.containerStatuses[0].state.waiting.reason}",
      /^(ErrImagePull|ImagePullBackOff)$/,
      60_000,
    );
    assert.match(await events("anon"), new RegExp(`Failed +Failed to pull image "${image}": `));
    // A secret that does not exist: upstream's warning, then the same failure.
    await c.k(["apply", "-f", "-"], { input: pod("missing", "nosuch") });
    await c.waitFor(
      "pod/missing",
      "{.status.containerStatuses[0].state.waiting.reason}",
      /^(ErrImagePull|ImagePullBackOff)$/,
      60_000,
    );
    assert.match(
      await events("missing"),
      /FailedToRetrieveImagePullSecret +Unable to retrieve some image pull secrets \(nosuch\); attempting to pull the image may not succeed\./,
    );
    // `kubectl create secret docker-registry` makes a kubernetes.io/dockerconfigjson secret.
    await c.k([
      "create",
      "secret",
      "docker-registry",
      "regcred",
      `--docker-server=${PRIVATE}`,
      "--docker-username=puller",
      "--docker-password=s3cret",
    ]);
    await c.k(["apply", "-f", "-"], { input: pod("authed", "regcred") });
    await c.waitFor("pod/authed", "{.status.phase}", "Running", 60_000);
    assert.match(
      await events("authed"),
      new RegExp(`Pulled +Successfully pulled image "${image}"`),
    );
    await c.k(["delete", "pod", "anon", "missing", "authed", "--wait=false"]);
  });
});
