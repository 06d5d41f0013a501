// Issue 2 acceptance (durability): SIGKILL the server in the middle of 1,000 concurrent pod
// creates; after a restart every create that was answered 201 is present with its uid,
// resourceVersions only grow, and a watch resumed from an old revision either replays every
// event after it or is answered 410 Expired — it never silently skips.
//
// The HTTPS clients must run inside the cluster's network namespace, so this file doubles as
// its own driver: spawned with `driver <mode> <kubeconfig>` it talks to the API server and
// prints JSON lines instead of defining tests.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:https";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster } from "./harness.js";
import { call, connect, type Reply } from "./https-client.js";

const CREATES = 1000;
/** Creates answered before the server is killed: well inside the burst. */
const KILL_AFTER_ANSWERS = 150;
const LABEL = "durability";
/** A node that does not exist: the pods stay unscheduled and no container is started. */
const NOWHERE = "durability-nowhere";

interface CreateResult {
  name: string;
  status: number;
  uid?: string;
  resourceVersion?: string;
  error?: string;
}

/** Driver: fires every create at once and prints one JSON line per answer as it arrives. */
async function driveCreates(kubeconfig: string): Promise<void> {
  const conn = connect(kubeconfig, 100);
  await Promise.all(
    Array.from({ length: CREATES }, async (_, i) => {
      const name = `dur-${i}`;
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { [LABEL]: "yes" } },
        spec: { nodeName: NOWHERE, containers: [{ name: "c", image: "busybox:1.28" }] },
      };
      let out: CreateResult;
      try {
        const r = await call(conn, "POST", "/api/v1/namespaces/default/pods", JSON.stringify(pod));
        out = { name, status: r.status };
        if (r.status === 201) {
          const meta = (JSON.parse(r.body) as { metadata: Record<string, string> }).metadata;
          out.uid = meta["uid"]!;
          out.resourceVersion = meta["resourceVersion"]!;
        }
      } catch (err) {
        out = { name, status: 0, error: err instanceof Error ? err.message : String(err) };
      }
      process.stdout.write(JSON.stringify(out) + "\n");
    }),
  );
  conn.agent.destroy();
}

interface WatchLine {
  type: string;
  object: { code?: number; metadata?: { name?: string; resourceVersion?: string } };
}

/**
 * Driver: watches pods from `fromRv` until `names` (comma-separated) have all been ADDED or
 * the stream ends; prints `{status, events}`.
 */
async function driveWatch(kubeconfig: string, fromRv: string, names: string): Promise<void> {
  const conn = connect(kubeconfig, 1);
  const want = new Set(names.split(",").filter((n) => n !== ""));
  const events: WatchLine[] = [];
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      new URL(
        `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${fromRv}&labelSelector=${LABEL}%3Dyes`,
        conn.server,
      ),
      { agent: conn.agent, headers: { ...conn.headers, Accept: "application/json" } },
      (res) => {
        let buf = "";
        const timer = setTimeout(() => {
          res.destroy();
          resolve(res.statusCode ?? 0);
        }, 30_000);
        res.on("data", (c: Buffer) => {
          buf += c.toString();
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() === "") continue;
            const ev = JSON.parse(line) as WatchLine;
            events.push(ev);
            if (ev.type === "ADDED") want.delete(ev.object.metadata?.name ?? "");
            if (want.size === 0 || ev.type === "ERROR") {
              clearTimeout(timer);
              res.destroy();
              resolve(res.statusCode ?? 0);
              return;
            }
          }
        });
        res.on("end", () => {
          clearTimeout(timer);
          if (buf.trim() !== "") events.push(JSON.parse(buf) as WatchLine);
          resolve(res.statusCode ?? 0);
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
  conn.agent.destroy();
  process.stdout.write(JSON.stringify({ status, events }) + "\n");
}

/** Driver: one GET or POST; prints `{status, body}`. */
async function driveCall(kubeconfig: string, method: string, path: string, body: string) {
  const conn = connect(kubeconfig, 1);
  const r = await call(conn, method, path, body === "" ? undefined : body);
  conn.agent.destroy();
  process.stdout.write(JSON.stringify(r) + "\n");
}

const [mode = "", ...rest] = process.argv.slice(2);
if (mode === "driver") {
  const [what, kubeconfig = "", a = "", b = "", c = ""] = rest;
  if (what === "creates") await driveCreates(kubeconfig);
  else if (what === "watch") await driveWatch(kubeconfig, a, b);
  else await driveCall(kubeconfig, a, b, c);
} else {
  describe("durability across SIGKILL", () => {
    let c: Cluster;
    before(async () => {
      c = await startCluster({ preloadImages: false });
    });
    after(async () => {
      await c.stop();
    });

    const driverArgs = (args: string[]): string[] => [
      "--import",
      "tsx",
      import.meta.filename,
      "driver",
      ...args,
    ];
    const api = async (method: string, path: string, body?: unknown): Promise<Reply> => {
      const encoded = body === undefined ? "" : JSON.stringify(body);
      const r = await c.inNetns(
        process.execPath,
        driverArgs(["call", c.kubeconfig, method, path, encoded]),
        { timeoutMs: 60_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Reply;
    };
    const listPods = async (): Promise<{
      resourceVersion: string;
      items: { metadata: { name: string; uid: string; resourceVersion: string } }[];
    }> => {
      const r = await api("GET", `/api/v1/namespaces/default/pods?labelSelector=${LABEL}%3Dyes`);
      assert.equal(r.status, 200, r.body);
      const list = JSON.parse(r.body) as {
        metadata: { resourceVersion: string };
        items: { metadata: { name: string; uid: string; resourceVersion: string } }[];
      };
      return { resourceVersion: list.metadata.resourceVersion, items: list.items };
    };

    test("every create answered 201 survives SIGKILL; revisions grow; watches replay or expire", async (t) => {
      // Step 1: the revision before the burst, for the resumed watch.
      const before = await api("GET", "/api/v1/namespaces/default/configmaps");
      assert.equal(before.status, 200, before.body);
      const startRv = (JSON.parse(before.body) as { metadata: { resourceVersion: string } })
        .metadata.resourceVersion;

      // Step 2: the burst, and SIGKILL once enough creates have been answered.
      const results: CreateResult[] = [];
      let killed: Promise<void> | undefined;
      const driver = spawn(
        "nsenter",
        [`--net=/run/netns/${c.netns}`, process.execPath, ...driverArgs(["creates", c.kubeconfig])],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let stderr = "";
      driver.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      let buf = "";
      driver.stdout.on("data", (b: Buffer) => {
        buf += b.toString();
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          results.push(JSON.parse(buf.slice(0, nl)) as CreateResult);
          buf = buf.slice(nl + 1);
          const answered = results.filter((r) => r.status === 201).length;
          if (killed === undefined && answered >= KILL_AFTER_ANSWERS) killed = c.kill("SIGKILL");
        }
      });
      const code = await new Promise<number | null>((resolve) => driver.on("close", resolve));
      assert.equal(code, 0, stderr);
      assert.ok(killed !== undefined, "the server was never killed");
      await killed;
      assert.equal(results.length, CREATES);
      const created = results.filter((r) => r.status === 201);
      assert.ok(created.length >= KILL_AFTER_ANSWERS);
      // The kill landed mid-burst: some creates never got an answer.
      assert.ok(
        results.some((r) => r.status === 0),
        `every create was answered before the kill: ${created.length} created`,
      );
      for (const r of results) {
        // Anything answered is a 201 or a Status the server chose; nothing else.
        assert.ok(r.status === 0 || r.status === 201 || r.status >= 500, JSON.stringify(r));
      }
      const maxSeenRv = Math.max(...created.map((r) => Number(r.resourceVersion)));

      // Step 3: restart on the same data dir.
      await c.restart();

      // Step 4: every acknowledged create is there, with its uid and (unchanged) revision.
      const after = await listPods();
      const byName = new Map(after.items.map((p) => [p.metadata.name, p.metadata]));
      for (const r of created) {
        const got = byName.get(r.name);
        assert.ok(got !== undefined, `${r.name} was answered 201 but is gone after restart`);
        assert.equal(got.uid, r.uid, r.name);
        assert.equal(got.resourceVersion, r.resourceVersion, r.name);
      }
      assert.ok(Number(after.resourceVersion) >= maxSeenRv, "list revision went backwards");

      t.diagnostic(
        `${created.length} answered 201 before the kill, ${after.items.length} present after`,
      );

      // Step 5: new writes get revisions above everything handed out before the kill.
      const fresh = await api("POST", "/api/v1/namespaces/default/configmaps", {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "after-restart" },
        data: { a: "b" },
      });
      assert.equal(fresh.status, 201, fresh.body);
      const freshRv = Number(
        (JSON.parse(fresh.body) as { metadata: { resourceVersion: string } }).metadata
          .resourceVersion,
      );
      assert.ok(freshRv > maxSeenRv, `new write got rv ${freshRv} <= ${maxSeenRv} seen before`);
      assert.ok(freshRv > Number(after.resourceVersion));

      // Step 6: a watch from the revision before the burst replays every surviving pod in
      // revision order, or answers 410; it never skips one.
      const names = after.items.map((p) => p.metadata.name);
      const w = await c.inNetns(
        process.execPath,
        driverArgs(["watch", c.kubeconfig, startRv, names.join(",")]),
        { timeoutMs: 90_000 },
      );
      assert.equal(w.code, 0, w.stderr);
      const watched = JSON.parse(w.stdout) as { status: number; events: WatchLine[] };
      t.diagnostic(`resumed watch: HTTP ${watched.status}, ${watched.events.length} events`);
      if (watched.status === 410) return;
      assert.equal(watched.status, 200);
      const added = new Set<string>();
      let lastRv = Number(startRv);
      for (const ev of watched.events) {
        // Expired may end the stream at any point: the client knows to re-list.
        if (ev.type === "ERROR" && ev.object.code === 410) return;
        assert.notEqual(ev.type, "ERROR", JSON.stringify(ev));
        const rv = Number(ev.object.metadata?.resourceVersion);
        assert.ok(rv > lastRv, `watch event rv ${rv} not after ${lastRv}`);
        lastRv = rv;
        if (ev.type === "ADDED") added.add(ev.object.metadata?.name ?? "");
      }
      const missing = names.filter((n) => !added.has(n));
      assert.deepEqual(missing, [], "the resumed watch skipped pods");
    });
  });
}
