// The thin end-to-end path: kubectl apply a one-container pod, see it Running in a real
// container with a pod IP, read its logs, delete it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster } from "./harness.js";

const HELLO = `
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ["sh", "-c", "echo hello from podrun; trap 'exit 0' TERM; while true; do sleep 1; done"]
`;

describe("a one-container pod", () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
  });
  after(async () => {
    await c.stop();
  });

  test("kubectl apply → Running in a real container with a pod IP; kubectl logs; delete", async () => {
    assert.match(await c.k(["apply", "-f", "-"], { input: HELLO }), /pod\/hello created/);
    await c.waitFor("pod/hello", "{.status.phase}", "Running");
    const ip = await c.k(["get", "pod", "hello", "-o", "jsonpath={.status.podIP}"]);
    assert.match(ip, /^10\.244\.\d+\.\d+$/);
    const wide = await c.k(["get", "pod", "hello", "-o", "wide"]);
    assert.match(wide, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/m);
    assert.match(
      wide,
      new RegExp(`^hello\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+${ip.replaceAll(".", "\\.")}\\s`, "m"),
    );
    // The pod IP answers from the cluster's network namespace: it is a real network namespace.
    const ping = await c.inNetns("busybox", ["ping", "-c", "1", "-W", "2", ip]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.equal(await c.k(["logs", "hello"]), "hello from podrun\n");
    assert.match(
      await c.k(["delete", "pod", "hello"], { timeoutMs: 30_000 }),
      /pod "hello" deleted/,
    );
    const gone = await c.kubectl(["get", "pod", "hello"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /Error from server \(NotFound\): pods "hello" not found/);
  });
});
