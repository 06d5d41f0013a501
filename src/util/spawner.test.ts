import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SpawnError, Spawner } from "./spawner.js";

// One contract, two implementations: the helper and Node's own spawn must give the same results.
for (const useHelper of [true, false]) {
  const kind = useHelper ? "helper" : "node";
  const sp = new Spawner({ useHelper });

  test(`Spawner (${kind}): exit code, stdout, stderr, stdin input`, async () => {
    const r = await sp.run("sh", ["-c", "cat; echo err >&2; exit 3"], { input: "hello" });
    assert.equal(r.code, 3);
    assert.equal(r.signal, null);
    assert.equal(r.stdout.toString(), "hello");
    assert.equal(r.stderr.toString(), "err\n");
  });

  test(`Spawner (${kind}): env replaces the environment, cwd is honoured`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "podrun-spawner-"));
    try {
      const r = await sp.run("/bin/sh", ["-c", 'echo "$A:${HOME:-none}"; pwd'], {
        env: { A: "b", PATH: "/usr/bin:/bin" },
        cwd: dir,
      });
      assert.equal(r.stdout.toString(), `b:none\n${dir}\n`);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  test(`Spawner (${kind}): a missing program rejects with ENOENT`, async () => {
    await assert.rejects(sp.run("/nonexistent/podrun-x", []), (err: unknown) => {
      assert.ok(err instanceof SpawnError);
      assert.equal(err.code, "ENOENT");
      return true;
    });
  });

  test(`Spawner (${kind}): abort kills with SIGKILL, kill sends the signal`, async () => {
    const ctl = new AbortController();
    const p = sp.run("sleep", ["30"], { signal: ctl.signal });
    setTimeout(() => {
      ctl.abort();
    }, 50);
    const r = await p;
    assert.equal(r.code, null);
    assert.equal(r.signal, "SIGKILL");
    const s = sp.start("sleep", ["30"]);
    s.kill("SIGTERM");
    assert.equal((await s.done).signal, "SIGTERM");
  });

  test(`Spawner (${kind}): the sync pipe carries what the child writes to it`, async () => {
    const s = sp.start(
      "sh",
      ["-c", 'echo "{\\"data\\": 42}" >&$SYNC; sleep 0.05; echo x >&$SYNC'],
      {
        syncPipeEnv: "SYNC",
        capture: false,
        setsid: true,
      },
    );
    const chunks: string[] = [];
    const ended = new Promise<void>((resolve) => {
      s.onSync((d) => {
        if (d === "end") resolve();
        else chunks.push(d.toString());
      });
    });
    await ended;
    assert.equal(chunks.join(""), '{"data": 42}\nx\n');
    const r = await s.done;
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, 0);
  });

  test(`Spawner (${kind}): the sync pipe outlives a child that daemonizes`, async () => {
    // As conmon: the started process exits at once; its own child answers on the pipe later.
    const s = sp.start("sh", ["-c", "(sleep 0.1; echo late >&$SYNC) & exit 0"], {
      syncPipeEnv: "SYNC",
      capture: false,
      setsid: true,
    });
    const got = new Promise<string>((resolve) => {
      s.onSync((d) => {
        if (d !== "end") resolve(d.toString());
      });
    });
    assert.equal((await s.done).code, 0);
    assert.equal(await got, "late\n");
    s.releaseSync();
  });

  test(`Spawner (${kind}): many children at once`, async () => {
    const rs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => sp.run("sh", ["-c", `echo ${String(i)}`])),
    );
    assert.deepEqual(
      rs.map((r) => r.stdout.toString()),
      Array.from({ length: 40 }, (_, i) => `${String(i)}\n`),
    );
  });
}
