// `podrun image pull|import|ls|rm|prune` on a data dir of its own (issue 3).
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  htpasswdLine,
  pushImage,
  startDockerRegistry,
} from "../../src/runtime/images/testing/docker-registry.js";
import { ROOT, must, run, testImagesDir } from "./harness.js";

const PODRUN = path.join(ROOT, "bin/podrun");

describe("podrun image", () => {
  let dir = "";
  let images = "";
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "podrun-image-"));
    images = await testImagesDir();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("imports OCI and docker-save archives, lists, removes and prunes", async () => {
    const img = (...a: string[]): Promise<string> =>
      must(PODRUN, ["image", ...a, "--data-dir", dir]);
    const imported = await img(
      "import",
      path.join(images, "busybox.oci.tar"),
      path.join(images, "web.docker.tar"),
    );
    assert.match(
      imported,
      /^imported docker\.io\/library\/busybox:1\.28, docker\.io\/library\/busybox:latest$/m,
    );
    assert.match(imported, /^imported docker\.io\/library\/web:latest$/m);
    const ls = await img("ls");
    assert.match(ls, /^IMAGE\s+TAG\s+IMAGE ID\s+SIZE$/m);
    assert.match(ls, /^docker\.io\/library\/busybox\s+1\.28\s+[0-9a-f]{13}\s+[\d.]+MB$/m);
    assert.match(ls, /^docker\.io\/library\/web\s+latest\s/m);
    assert.match(
      await img("rm", "docker.io/library/web:latest"),
      /deleted docker\.io\/library\/web:latest/,
    );
    assert.doesNotMatch(await img("ls"), /library\/web/);
    assert.match(await img("prune"), /^removed \d+ unreferenced layers and blobs$/m);
    assert.match(await img("ls"), /library\/busybox\s+latest/);
  });

  test("pull from a plain-HTTP registry with basic auth (registries.yaml + config.json), with a progress bar on a terminal", async () => {
    const reg = await startDockerRegistry({ htpasswd: await htpasswdLine("cli", "pw") });
    const pullDir = await mkdtemp(path.join(tmpdir(), "podrun-image-pull-"));
    try {
      await pushImage(path.join(images, "busybox"), "1.28", reg.host, "tools/busybox", "cli:pw");
      await writeFile(
        path.join(pullDir, "registries.yaml"),
        `mirrors:\n  "${reg.host}":\n    endpoint: ["http://${reg.host}"]\n`,
      );
      const ref = `${reg.host}/tools/busybox:1.28`;
      // Without credentials the registry refuses the pull.
      const refused = await run(PODRUN, ["image", "pull", ref, "--data-dir", pullDir]);
      assert.notEqual(refused.code, 0);
      await writeFile(
        path.join(pullDir, "config.json"),
        JSON.stringify({
          auths: { [reg.host]: { auth: Buffer.from("cli:pw").toString("base64") } },
        }),
      );
      // `script` gives the command a pseudo-terminal, so the progress bar is drawn.
      const out = await must("script", [
        "-qec",
        `${PODRUN} image pull ${ref} --data-dir ${pullDir}`,
        "/dev/null",
      ]);
      assert.match(
        out,
        new RegExp(`${ref.replaceAll(".", "\\.")} \\[#{30}\\] [\\d.]+/[\\d.]+ MB  1/1 layers`),
      );
      assert.match(out, /pulled 127\.0\.0\.1:\d+\/tools\/busybox:1\.28 \(sha256:[0-9a-f]{64}\)/);
      assert.match(
        await must(PODRUN, ["image", "ls", "--data-dir", pullDir]),
        /^127\.0\.0\.1:\d+\/tools\/busybox\s+1\.28\s/m,
      );
    } finally {
      await reg.stop();
      await rm(pullDir, { recursive: true, force: true });
    }
  });
});
