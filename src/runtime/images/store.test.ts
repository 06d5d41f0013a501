import assert from "node:assert/strict";
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FakeClock, nullLogger } from "../../util/index.js";
import { isRuntimeError } from "../errors.js";
import { OciImageStore } from "./store.js";
import { makeTar, removeTestImages, run, testImages } from "./testing/test-images.js";

let images: string;
let work: string;
let n = 0;

before(async () => {
  images = await testImages();
  work = await mkdtemp(join(tmpdir(), "podrun-store-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
  await removeTestImages();
});

function newStore(root = join(work, `store-${++n}`)): OciImageStore {
  return new OciImageStore({ root, logger: nullLogger, clock: new FakeClock() });
}

describe("OciImageStore import", () => {
  for (const form of ["busybox", "busybox.oci.tar", "busybox.docker.tar"]) {
    test(`importImages reads ${form} with its tags and config (PL-IMG-8)`, async () => {
      const store = newStore();
      const ids = await store.importImages(join(images, form));
      assert.equal(ids.length, 1);
      const img = await store.imageStatus("busybox:1.28");
      assert.ok(img);
      assert.equal(img.id, ids[0]);
      assert.match(img.id, /^sha256:[a-f0-9]{64}$/);
      assert.deepEqual(img.repoTags.sort(), [
        "docker.io/library/busybox:1.28",
        "docker.io/library/busybox:latest",
      ]);
      if (form.includes("docker")) assert.deepEqual(img.repoDigests, []);
      else {
        assert.equal(img.repoDigests.length, 1);
        assert.match(
          img.repoDigests[0] ?? "",
          /^docker\.io\/library\/busybox@sha256:[a-f0-9]{64}$/,
        );
      }
      assert.deepEqual(img.config.cmd, ["sh"]);
      assert.ok(img.sizeBytes > 0);
      assert.deepEqual(await store.imageConfig("docker.io/library/busybox"), img.config);
      const paths = await store.layerPaths("busybox");
      assert.equal(paths.length, 1);
      assert.ok((await lstat(join(paths[0] ?? "", "bin/busybox"))).isFile());
      assert.equal(await readlink(join(paths[0] ?? "", "bin/sh")), "/bin/busybox");
    });
  }

  test("the same image from all three forms has the same id", async () => {
    const ids = new Set<string>();
    for (const form of ["pause", "pause.oci.tar", "pause.docker.tar"]) {
      const [id] = await newStore().importImages(join(images, form));
      assert.ok(id);
      ids.add(id);
    }
    assert.equal(ids.size, 1);
  });

  test("imageStatus finds an image by id, short hex id, tag and repo digest", async () => {
    const store = newStore();
    const [id] = await store.importImages(join(images, "pause"));
    assert.ok(id);
    const img = await store.imageStatus(id);
    assert.ok(img);
    assert.equal((await store.imageStatus(id.slice(7)))?.id, id);
    assert.equal((await store.imageStatus("pause:3.9"))?.id, id);
    assert.equal((await store.imageStatus("docker.io/library/pause:latest"))?.id, id);
    assert.equal((await store.imageStatus(img.repoDigests[0] ?? ""))?.id, id);
    assert.equal(await store.imageStatus("pause:4.0"), undefined);
    assert.equal(await store.imageStatus("Invalid:Ref"), undefined);
    assert.deepEqual(img.config.entrypoint, ["/catatonit", "-P"]);
    assert.equal(img.config.user, "65535:65535");
  });

  test("layers are shared between images: web reuses the busybox layer directory", async () => {
    const store = newStore();
    await store.importImages(join(images, "busybox"));
    await store.importImages(join(images, "web.docker.tar"));
    const bb = await store.layerPaths("busybox:latest");
    const web = await store.layerPaths("web");
    assert.equal(web.length, 2);
    assert.equal(web[0], bb[0]);
    assert.equal(await readFile(join(web[1] ?? "", "www/healthz"), "utf8"), "ok\n");
    const cfg = await store.imageConfig("web");
    assert.deepEqual(cfg.exposedPorts, ["80/tcp"]);
    assert.equal(cfg.workingDir, "/www");
  });

  test("the index survives a restart", async () => {
    const root = join(work, "persist");
    const [id] = await newStore(root).importImages(join(images, "busybox.oci.tar"));
    const again = newStore(root);
    assert.equal((await again.imageStatus("busybox:1.28"))?.id, id);
    assert.equal((await again.listImages()).length, 1);
    assert.equal((await again.layerPaths("busybox")).length, 1);
  });

  test("removeImage removes all tags; shared layers stay until the last user goes", async () => {
    const store = newStore();
    await store.importImages(join(images, "busybox"));
    await store.importImages(join(images, "web"));
    const [bbLayer] = await store.layerPaths("busybox");
    const webLayers = await store.layerPaths("web");
    await store.removeImage("busybox:1.28");
    assert.equal(await store.imageStatus("busybox:latest"), undefined);
    assert.ok((await lstat(bbLayer ?? "")).isDirectory(), "web still uses the busybox layer");
    await store.removeImage("web");
    await assert.rejects(lstat(bbLayer ?? ""));
    await assert.rejects(lstat(webLayers[1] ?? ""));
    assert.deepEqual(await store.listImages(), []);
    await assert.rejects(store.removeImage("web"), (err: unknown) =>
      isRuntimeError(err, "NotFound"),
    );
    await assert.rejects(store.layerPaths("web"), (err: unknown) =>
      isRuntimeError(err, "NotFound"),
    );
  });

  test("prune removes unreferenced layers and blobs only", async () => {
    const root = join(work, "prune");
    const store = newStore(root);
    await store.importImages(join(images, "pause"));
    assert.deepEqual(await store.prune(), []);
    const stray = "ab".repeat(32);
    await writeFile(join(root, "blobs", "sha256", stray), "stray");
    await mkdir(join(root, "layers", stray, "diff"), { recursive: true });
    const removed = await store.prune();
    assert.deepEqual(removed.sort(), [`sha256:${stray}`, `sha256:${stray}`]);
    assert.equal((await store.layerPaths("pause")).length, 1);
  });

  test("a tag moves to the newly imported image", async () => {
    const store = newStore();
    await store.importImages(join(images, "busybox"));
    const dir = join(work, "retag");
    // A docker archive of the pause image that claims the busybox:latest tag.
    await run("mkdir", ["-p", dir]);
    await run("tar", ["-xf", join(images, "pause.docker.tar"), "-C", dir]);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
      RepoTags: string[];
    }[];
    manifest[0]!.RepoTags = ["busybox:latest"];
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest));
    const [pauseId] = await store.importImages(dir);
    assert.equal((await store.imageStatus("busybox:latest"))?.id, pauseId);
    const bb = await store.imageStatus("busybox:1.28");
    assert.deepEqual(bb?.repoTags, ["docker.io/library/busybox:1.28"]);
  });

  test("an archive with a hostile layer fails naming the entry and records nothing", async () => {
    const dir = join(work, "hostile");
    await run("mkdir", ["-p", dir]);
    await run("tar", ["-xf", join(images, "pause.docker.tar"), "-C", dir]);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
      Config: string;
      Layers: string[];
    }[];
    const layer = manifest[0]!.Layers[0]!;
    await writeFile(join(dir, layer), await makeTar([{ name: "../escape", content: "x" }]));
    const root = join(work, "hostile-store");
    const store = newStore(root);
    await assert.rejects(store.importImages(dir), (err: unknown) => {
      assert.ok(isRuntimeError(err, "Failed"));
      // The diff id in the config no longer matches either; the entry check fails first.
      assert.match(
        err.message,
        /unpack layer sha256:[a-f0-9]{64}: unsafe layer entry "\.\.\/escape"/,
      );
      return true;
    });
    assert.deepEqual(await store.listImages(), []);
    assert.deepEqual(
      (await readdir(join(root, "layers"))).filter((x) => !x.startsWith(".")),
      [],
    );
    await assert.rejects(lstat(join(root, "escape")));
  });

  test("importImages fails with NotFound for a missing path and Failed for a non-image", async () => {
    const store = newStore();
    await assert.rejects(store.importImages(join(work, "nope")), (err: unknown) =>
      isRuntimeError(err, "NotFound"),
    );
    const junk = join(work, "junk.tar");
    await writeFile(junk, await makeTar([{ name: "hello", content: "x" }]));
    await assert.rejects(store.importImages(junk), (err: unknown) => isRuntimeError(err, "Failed"));
  });
});
