// Applies the generated rules to a real nftables inside throw-away network namespaces and
// sends traffic through them (root).
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { EndpointSlice, Service } from "../api/index.js";
import { buildModel } from "./model.js";
import { diffScript, fullScript } from "./nft.js";
import { NftSession, runNft } from "./nft-session.js";

const exec = promisify(execFile);
const id = randomBytes(3).toString("hex");
const NODE = `podrun-pxa-${id}`;
const POD = `podrun-pxb-${id}`;
const TABLE = { table: "podrun" };

const svc = (name: string, ip: string, port: number, nodePort?: number): Service => ({
  metadata: { name, namespace: "default" },
  spec: {
    type: nodePort === undefined ? "ClusterIP" : "NodePort",
    clusterIP: ip,
    ports: [{ port, protocol: "TCP", ...(nodePort === undefined ? {} : { nodePort }) }],
  },
});
const slice = (name: string, ips: string[], port: number): EndpointSlice => ({
  metadata: {
    name: `${name}-x`,
    namespace: "default",
    labels: { "kubernetes.io/service-name": name },
  },
  addressType: "IPv4",
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  ports: [{ port, protocol: "TCP" }],
});

/** Fetches `url` from the "node" namespace (curl: busybox 1.35's wget crashes with -T). */
async function fetchFromNode(url: string): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await exec("ip", ["netns", "exec", NODE, "curl", "-sS", "-m", "3", url]);
    return { ok: true, out: stdout };
  } catch (err) {
    const e = err as { stderr?: string };
    return { ok: false, out: e.stderr ?? String(err) };
  }
}

describe("nftables rules (real kernel, throw-away namespaces)", () => {
  let dir = "";
  let nft = "";
  let httpd: ChildProcess | undefined;
  let httpd2: ChildProcess | undefined;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "podrun-proxy-"));
    await writeFile(path.join(dir, "index.html"), "backend says hi\n");
    // nft inside the "node" namespace.
    nft = path.join(dir, "nft");
    await writeFile(nft, `#!/bin/sh\nexec ip netns exec ${NODE} nft "$@"\n`);
    await chmod(nft, 0o755);
    for (const ns of [NODE, POD]) await exec("ip", ["netns", "add", ns]);
    await exec("ip", [
      "-n",
      NODE,
      "link",
      "add",
      "vnode",
      "type",
      "veth",
      "peer",
      "name",
      "vpod",
      "netns",
      POD,
    ]);
    await exec("ip", ["-n", NODE, "addr", "add", "10.250.0.1/24", "dev", "vnode"]);
    await exec("ip", ["-n", POD, "addr", "add", "10.250.0.2/24", "dev", "vpod"]);
    for (const [ns, dev] of [
      [NODE, "vnode"],
      [POD, "vpod"],
    ] as const) {
      await exec("ip", ["-n", ns, "link", "set", dev, "up"]);
      await exec("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
    await exec("ip", ["-n", NODE, "route", "add", "default", "via", "10.250.0.2"]);
    httpd = spawn("ip", ["netns", "exec", POD, "busybox", "httpd", "-f", "-p", "8080", "-h", dir], {
      stdio: "ignore",
    });
    // A second backend on another port that answers differently.
    const dir2 = path.join(dir, "other");
    await mkdir(dir2);
    await writeFile(path.join(dir2, "index.html"), "other backend\n");
    httpd2 = spawn(
      "ip",
      ["netns", "exec", POD, "busybox", "httpd", "-f", "-p", "8081", "-h", dir2],
      { stdio: "ignore" },
    );
    await new Promise((r) => setTimeout(r, 200));
  });
  after(async () => {
    httpd?.kill("SIGKILL");
    httpd2?.kill("SIGKILL");
    for (const ns of [NODE, POD]) await exec("ip", ["netns", "del", ns]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  test("a ClusterIP reaches its backend; a service without endpoints is rejected", async () => {
    const model = buildModel(
      [svc("web", "10.96.0.20", 80), svc("empty", "10.96.0.21", 80)],
      [slice("web", ["10.250.0.2"], 8080)],
    );
    await runNft(nft, fullScript(model, TABLE));
    assert.deepEqual(await fetchFromNode("http://10.96.0.20/"), {
      ok: true,
      out: "backend says hi\n",
    });
    const empty = await fetchFromNode("http://10.96.0.21/");
    assert.equal(empty.ok, false);
    // Rejected at once (no timeout): the kernel answered for the missing backends.
    assert.match(empty.out, /after \d+ ms: Couldn.t connect/);
  });

  test("an incremental update moves the endpoints and touches only that service", async () => {
    const before = buildModel(
      [svc("web", "10.96.0.20", 80), svc("empty", "10.96.0.21", 80)],
      [slice("web", ["10.250.0.2"], 8080)],
    );
    const after = buildModel(
      [svc("web", "10.96.0.20", 80), svc("empty", "10.96.0.21", 80)],
      [slice("empty", ["10.250.0.2"], 8080)],
    );
    const script = diffScript(before, after, TABLE);
    assert.doesNotMatch(script, /delete table/);
    await runNft(nft, script);
    assert.equal((await fetchFromNode("http://10.96.0.20/")).ok, false);
    assert.deepEqual(await fetchFromNode("http://10.96.0.21/"), {
      ok: true,
      out: "backend says hi\n",
    });
  });

  test("a NodePort answers on the node's address", async () => {
    const model = buildModel(
      [svc("np", "10.96.0.22", 80, 30080)],
      [slice("np", ["10.250.0.2"], 8080)],
    );
    await runNft(nft, fullScript(model, TABLE));
    assert.deepEqual(await fetchFromNode("http://10.250.0.1:30080/"), {
      ok: true,
      out: "backend says hi\n",
    });
    await runNft(nft, `add table ip podrun\ndelete table ip podrun\n`);
    const { stdout } = await exec("ip", ["netns", "exec", NODE, "nft", "list", "tables"]);
    assert.equal(stdout.trim(), "");
  });

  test("sessionAffinity ClientIP: one client sticks to one backend; without it both answer", async () => {
    const two: EndpointSlice = {
      ...slice("sticky", ["10.250.0.2"], 8080),
      endpoints: [{ addresses: ["10.250.0.2"], conditions: { ready: true } }],
      ports: [{ port: 8080, protocol: "TCP" }],
    };
    const other: EndpointSlice = {
      ...slice("sticky", ["10.250.0.2"], 8081),
      metadata: { ...two.metadata, name: "sticky-y" },
    };
    const plain = svc("sticky", "10.96.0.23", 80);
    const sticky: Service = { ...plain, spec: { ...plain.spec, sessionAffinity: "ClientIP" } };
    const session = new NftSession(nft);
    try {
      const without = buildModel([plain], [two, other]);
      await runNft(nft, fullScript(without, TABLE));
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++)
        seen.add((await fetchFromNode("http://10.96.0.23/")).out);
      assert.deepEqual([...seen].sort(), ["backend says hi\n", "other backend\n"]);
      // Incremental switch to affinity through the long-lived nft session.
      const withAffinity = buildModel([sticky], [two, other]);
      await session.apply(diffScript(without, withAffinity, TABLE));
      const answers = new Set<string>();
      for (let i = 0; i < 20; i++) answers.add((await fetchFromNode("http://10.96.0.23/")).out);
      assert.equal(answers.size, 1, `answers: ${JSON.stringify([...answers])}`);
      // A failed transaction is reported and changes nothing.
      await assert.rejects(
        session.apply("add chain ip podrun half\nadd rule ip podrun no-such-chain accept\n"),
        /No such file or directory/,
      );
      const { stdout } = await exec("ip", ["netns", "exec", NODE, "nft", "list", "chains"]);
      assert.doesNotMatch(stdout, /chain half/);
      await session.apply(diffScript(withAffinity, without, TABLE));
      assert.equal((await fetchFromNode("http://10.96.0.23/")).ok, true);
    } finally {
      await session.close();
    }
  });
});
