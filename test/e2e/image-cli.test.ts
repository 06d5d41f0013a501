// `podrun image import|ls|rm|prune` on a data dir of its own (issue 3).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, must, testImagesDir } from "./harness.js";

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
});
