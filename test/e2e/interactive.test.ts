// Issue 7 acceptance: interactive kubectl (exec, cp, port-forward, debug, run) against podrun,
// with kubectl 1.27 (SPDY), 1.31 and 1.33 (websocket, tunnelled port-forward).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { KUBECTL_DIR, startCluster, type Cluster } from "./harness.js";

const VERSIONS = ["1.27", "1.31", "1.33"];

const manifests = `
apiVersion: v1
kind: Pod
metadata:
  name: demo
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:1.28
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
`;

/** Polls `fn` until it returns a value other than undefined. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("interactive kubectl", () => {
  let c: Cluster;
  let work = "";
  before(async () => {
    c = await startCluster();
    work = await mkdtemp(path.join(tmpdir(), "podrun-interactive-"));
    await c.k(["apply", "-f", "-"], { input: manifests });
    await c.waitFor("pod/demo", "{.status.phase}", "Running", 60_000);
    await c.waitFor("pod/web", "{.status.phase}", "Running", 60_000);
  });
  after(async () => {
    await c.stop();
    await rm(work, { recursive: true, force: true });
  });

  for (const v of VERSIONS) {
    test(`KA-EXEC-3 kubectl ${v}: exec prints both streams and exits with the command's code`, async () => {
      const r = await c.kubectl(
        ["exec", "demo", "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
        {
          version: v,
        },
      );
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, "out\n");
      assert.match(r.stderr, /^err$/m);
      assert.match(r.stderr, /command terminated with exit code 3/);
      assert.equal(
        await c.k(["exec", "demo", "-c", "app", "--", "echo", "ok"], { version: v }),
        "ok\n",
      );
    });

    test(`KA-EXEC-1 kubectl ${v}: exec -i round-trips 10 MB byte-exact`, async () => {
      const data = randomBytes(10 * 1024 * 1024);
      const r = await c.kubectl(
        [
          "exec",
          "-i",
          "demo",
          "--",
          "sh",
          "-c",
          "cat > /tmp/in && md5sum < /tmp/in && wc -c < /tmp/in",
        ],
        {
          version: v,
          input: data,
          timeoutMs: 120_000,
        },
      );
      assert.equal(r.code, 0, r.stderr);
      const { createHash } = await import("node:crypto");
      const md5 = createHash("md5").update(data).digest("hex");
      assert.match(r.stdout, new RegExp(`^${md5}`));
      assert.match(r.stdout, /^10485760$/m);
    });

    test(`KA-CP-1 kubectl ${v}: cp copies a directory tree in and out byte-exact`, async () => {
      const src = path.join(work, `src-${v}`);
      await mkdir(path.join(src, "sub", "deep"), { recursive: true });
      const files: Record<string, Buffer> = {
        "a.txt": Buffer.from("hello\n"),
        "sub/b.bin": randomBytes(300_000),
        "sub/deep/c.bin": randomBytes(1234),
      };
      for (const [f, b] of Object.entries(files)) await writeFile(path.join(src, f), b);
      const dir = `/tmp/cp-${v.replace(".", "")}`;
      await c.k(["cp", src, `demo:${dir}`], { version: v });
      const back = path.join(work, `back-${v}`);
      await c.k(["cp", `demo:${dir}`, back], { version: v });
      for (const [f, b] of Object.entries(files)) {
        assert.deepEqual(await readFile(path.join(back, f)), b, f);
      }
      assert.deepEqual((await readdir(back)).sort(), ["a.txt", "sub"]);
    });

    test(`KA-PF-1 kubectl ${v}: port-forward serves 20 parallel requests`, async () => {
      const port = 18080 + VERSIONS.indexOf(v);
      const pf = spawn(
        "nsenter",
        [
          `--net=/run/netns/${c.netns}`,
          "--",
          path.join(KUBECTL_DIR, `kubectl.${v}`),
          "--kubeconfig",
          c.kubeconfig,
          "port-forward",
          "pod/web",
          `${port}:80`,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      pf.stdout.on("data", (d: Buffer) => (out += d.toString()));
      pf.stderr.on("data", (d: Buffer) => (out += d.toString()));
      try {
        await until("port-forward listening", () =>
          Promise.resolve(out.includes("Forwarding from") ? true : undefined),
        );
        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            c.inNetns("curl", ["-sS", "-m", "20", `http://127.0.0.1:${port}/`]),
          ),
        );
        for (const r of results) {
          assert.equal(r.code, 0, `${r.stderr}\n${out}`);
          assert.match(r.stdout, /It works!/);
        }
      } finally {
        pf.kill("SIGTERM");
        await new Promise((r) => pf.once("close", r));
      }
    });
  }

  test("KA-DEBUG-2 kubectl debug adds an ephemeral container sharing the target's PIDs", async () => {
    await c.k([
      "debug",
      "demo",
      "--image=busybox:1.28",
      "--target=app",
      "--container=dbg",
      "--",
      "sh",
      "-c",
      "ps; sleep 3600",
    ]);
    await c.waitFor(
      "pod/demo",
      '{.status.ephemeralContainerStatuses[?(@.name=="dbg")].state.running.startedAt}',
      /\d/,
      60_000,
    );
    const logs = await until("ps output", async () => {
      const r = await c.kubectl(["logs", "demo", "-c", "dbg"]);
      return /sleep 3600/.test(r.stdout) ? r.stdout : undefined;
    });
    // The app's loop is visible from the debug container.
    assert.match(logs, /while true; do sleep 1; done/);
    const ps = await c.k(["exec", "demo", "-c", "dbg", "--", "ps"]);
    assert.match(ps, /while true; do sleep 1; done/);
    const desc = await c.k(["describe", "pod", "demo"]);
    assert.match(desc, /Ephemeral Containers:\s+dbg:/);
  });

  test("kubectl run -it --rm prints the output and deletes the pod", async () => {
    for (const v of ["1.27", "1.33"]) {
      const name = `t${v.replace(".", "")}`;
      const r = await c.kubectl(
        ["run", "-i", "--rm", name, "--image=busybox:1.28", "--restart=Never", "--", "echo", "hi"],
        { version: v, timeoutMs: 90_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^hi$/m);
      assert.match(r.stdout, new RegExp(`pod "${name}" deleted`));
      const g = await c.kubectl(["get", "pod", name]);
      assert.match(g.stderr, /NotFound/);
    }
  });

  test("killing kubectl mid-exec leaves no process behind", async () => {
    const ex = spawn(
      "nsenter",
      [
        `--net=/run/netns/${c.netns}`,
        "--",
        path.join(KUBECTL_DIR, "kubectl.1.33"),
        "--kubeconfig",
        c.kubeconfig,
        "exec",
        "demo",
        "--",
        "sh",
        "-c",
        "echo started; exec sleep 3917",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    ex.stdout.on("data", (d: Buffer) => (out += d.toString()));
    await until("exec started", () => Promise.resolve(out.includes("started") ? true : undefined));
    const sleeper = "sleep 3917";
    assert.match(await c.k(["exec", "demo", "--", "ps"]), new RegExp(sleeper));
    ex.kill("SIGKILL");
    await new Promise((r) => ex.once("close", r));
    await until("exec'd process gone", async () => {
      const ps = await c.k(["exec", "demo", "--", "ps"]);
      return ps.includes(sleeper) ? undefined : true;
    });
  });
});
