import assert from "node:assert/strict";
import { lstat, mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FakeClock, nullLogger } from "../../util/index.js";
import { isRuntimeError } from "../errors.js";
import type { PullProgress } from "../types.js";
import { parseChallenge, registryEndpoints, type RegistryConfig } from "./registry.js";
import { OciImageStore } from "./store.js";
import {
  htpasswdLine,
  pushImage,
  startDockerRegistry,
  type RunningRegistry,
} from "./testing/docker-registry.js";
import { startFakeRegistry } from "./testing/fake-registry.js";
import { removeTestImages, testImages } from "./testing/test-images.js";

let images: string;
let work: string;
let n = 0;

before(async () => {
  images = await testImages();
  work = await mkdtemp(join(tmpdir(), "podrun-pull-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
  await removeTestImages();
});

/** A store whose fetch calls are recorded as `METHOD url`. */
function newStore(registries: RegistryConfig): { store: OciImageStore; calls: string[] } {
  const calls: string[] = [];
  const store = new OciImageStore({
    root: join(work, `store-${++n}`),
    logger: nullLogger,
    clock: new FakeClock(),
    registries,
    fetch: (input, init) => {
      calls.push(
        `${init?.method ?? "GET"} ${input instanceof Request ? input.url : String(input)}`,
      );
      return fetch(input, init);
    },
  });
  return { store, calls };
}

describe("registry helpers", () => {
  test("registryEndpoints lists mirrors first, then the registry (https unless insecure)", () => {
    assert.deepEqual(
      registryEndpoints("docker.io", { mirrors: { "docker.io": ["http://127.0.0.1:5000/v2/"] } }),
      [
        { baseUrl: "http://127.0.0.1:5000", isMirror: true },
        { baseUrl: "https://registry-1.docker.io", isMirror: false },
      ],
    );
    assert.deepEqual(registryEndpoints("localhost:5000", { insecure: ["localhost:5000"] }), [
      { baseUrl: "http://localhost:5000", isMirror: false },
    ]);
    assert.deepEqual(registryEndpoints("quay.io", {}), [
      { baseUrl: "https://quay.io", isMirror: false },
    ]);
  });

  test("parseChallenge reads a Bearer challenge", () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/busybox:pull",
        },
      },
    );
    assert.deepEqual(parseChallenge('Basic realm="x"'), {
      scheme: "basic",
      params: { realm: "x" },
    });
  });
});

describe("pullImage from docker-registry", () => {
  let reg: RunningRegistry;
  let importedId: string;

  before(async () => {
    reg = await startDockerRegistry();
    const layout = join(images, "busybox");
    await pushImage(layout, "1.28", reg.host, "library/busybox");
    await pushImage(join(images, "web"), "latest", reg.host, "library/web");
    const [id] = await newStore({}).store.importImages(layout);
    assert.ok(id);
    importedId = id;
  });
  after(async () => {
    await reg.stop();
  });

  test("pulls by tag over plain HTTP, with repo digest, layers and progress", async () => {
    const { store } = newStore({ insecure: [reg.host] });
    const progress: PullProgress[] = [];
    const id = await store.pullImage(`${reg.host}/library/busybox:1.28`, {
      onProgress: (p) => progress.push(p),
    });
    assert.equal(id, importedId);
    const img = await store.imageStatus(`${reg.host}/library/busybox:1.28`);
    assert.ok(img);
    assert.deepEqual(img.repoTags, [`${reg.host}/library/busybox:1.28`]);
    assert.match(
      img.repoDigests[0] ?? "",
      new RegExp(`^${reg.host}/library/busybox@sha256:[a-f0-9]{64}$`),
    );
    const last = progress[progress.length - 1];
    assert.ok(last && last.currentBytes === last.totalBytes && last.totalBytes > 0);
    const [layer] = await store.layerPaths(id);
    assert.ok((await lstat(join(layer ?? "", "bin/busybox"))).isFile());

    // By digest: same image, no tag added.
    const byDigest = await store.pullImage(img.repoDigests[0] ?? "");
    assert.equal(byDigest, id);
  });

  test("pulls a two-layer image with layers in parallel", async () => {
    const { store } = newStore({ insecure: [reg.host] });
    const id = await store.pullImage(`${reg.host}/library/web:latest`);
    const paths = await store.layerPaths(id);
    assert.equal(paths.length, 2);
    assert.equal(await readFile(join(paths[1] ?? "", "www/healthz"), "utf8"), "ok\n");
  });

  test("a mirror serves docker.io references (busybox → docker.io/library/busybox)", async () => {
    const { store, calls } = newStore({ mirrors: { "docker.io": [`http://${reg.host}`] } });
    const id = await store.pullImage("busybox:1.28");
    assert.equal(id, importedId);
    const img = await store.imageStatus("busybox:1.28");
    assert.deepEqual(img?.repoTags, ["docker.io/library/busybox:1.28"]);
    assert.match(img.repoDigests[0] ?? "", /^docker\.io\/library\/busybox@sha256:/);
    assert.ok(
      calls.every((c) => c.includes(reg.host)),
      calls.join("\n"),
    );
  });

  test("concurrent pulls of one reference are coalesced", async () => {
    const { store, calls } = newStore({ insecure: [reg.host] });
    const ref = `${reg.host}/library/busybox:1.28`;
    const [a, b] = await Promise.all([store.pullImage(ref), store.pullImage(ref)]);
    assert.equal(a, b);
    assert.equal(calls.filter((c) => c.includes("/manifests/1.28")).length, 1);
  });

  test("an aborted caller rejects with the signal's reason; a later pull still works", async () => {
    const { store } = newStore({ insecure: [reg.host] });
    const ac = new AbortController();
    ac.abort(new Error("stop now"));
    await assert.rejects(
      store.pullImage(`${reg.host}/library/web:latest`, { signal: ac.signal }),
      /stop now/,
    );
    // Aborted in the middle of a download: the last waiter leaving cancels the shared pull.
    const mid = new AbortController();
    await assert.rejects(
      store.pullImage(`${reg.host}/library/web:latest`, {
        signal: mid.signal,
        onProgress: () => {
          mid.abort(new Error("stop mid-pull"));
        },
      }),
      /stop mid-pull/,
    );
    assert.deepEqual(await store.listImages(), []);
    const id = await store.pullImage(`${reg.host}/library/web:latest`);
    assert.equal((await store.layerPaths(id)).length, 2);
  });

  test("an unknown tag is NotFound; an unreachable registry is Unavailable", async () => {
    const { store } = newStore({ insecure: [reg.host, "127.0.0.1:1"] });
    await assert.rejects(store.pullImage(`${reg.host}/library/busybox:9.99`), (err: unknown) =>
      isRuntimeError(err, "NotFound"),
    );
    await assert.rejects(store.pullImage("127.0.0.1:1/x:1"), (err: unknown) =>
      isRuntimeError(err, "Unavailable"),
    );
  });

  // Runs last in this suite: it damages a blob in the registry's storage.
  test("a corrupted layer blob fails the pull with Failed naming the digest", async () => {
    const res = await fetch(`http://${reg.host}/v2/library/busybox/manifests/1.28`, {
      headers: {
        Accept:
          "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
      },
    });
    const manifest = (await res.json()) as { layers: { digest: string }[] };
    const digest = manifest.layers[0]?.digest ?? "";
    const hex = digest.slice(7);
    const data = join(reg.storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    const fh = await open(data, "r+");
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, 1000);
      b[0] = (b[0] ?? 0) ^ 0xff;
      await fh.write(b, 0, 1, 1000);
    } finally {
      await fh.close();
    }
    const { store } = newStore({ insecure: [reg.host] });
    await assert.rejects(store.pullImage(`${reg.host}/library/busybox:1.28`), (err: unknown) => {
      assert.ok(isRuntimeError(err, "Failed"), String(err));
      assert.ok(err.message.includes(digest), err.message);
      return true;
    });
    assert.deepEqual(await store.listImages(), []);
    assert.ok(!(await store.prune()).includes(digest), "the corrupt blob was never stored");
  });
});

describe("pullImage with auth", () => {
  test("htpasswd basic auth: refused without credentials, pulled with them", async () => {
    const reg = await startDockerRegistry({ htpasswd: await htpasswdLine("alice", "s3cret") });
    try {
      await pushImage(join(images, "pause"), "3.9", reg.host, "library/pause", "alice:s3cret");
      const ref = `${reg.host}/library/pause:3.9`;
      const { store } = newStore({ insecure: [reg.host] });
      await assert.rejects(store.pullImage(ref), (err: unknown) => isRuntimeError(err, "Failed"));
      await assert.rejects(
        store.pullImage(ref, { auth: { username: "alice", password: "wrong" } }),
        (err: unknown) => isRuntimeError(err, "Failed"),
      );
      const id = await store.pullImage(ref, { auth: { username: "alice", password: "s3cret" } });
      assert.equal((await store.imageStatus(ref))?.id, id);
      const auth = Buffer.from("alice:s3cret").toString("base64");
      const { store: store2 } = newStore({ insecure: [reg.host] });
      assert.equal(await store2.pullImage(ref, { auth: { auth } }), id);
    } finally {
      await reg.stop();
    }
  });

  test("bearer token auth and a manifest list resolved to linux/amd64", async () => {
    const layout = join(images, "busybox");
    const fake = await startFakeRegistry({
      layout,
      repo: "team/bb",
      tag: "v1",
      user: "bob",
      password: "pw",
    });
    try {
      const ref = `${fake.host}/team/bb:v1`;
      const { store } = newStore({ insecure: [fake.host] });
      await assert.rejects(store.pullImage(ref), (err: unknown) => isRuntimeError(err, "Failed"));
      const id = await store.pullImage(ref, { auth: { username: "bob", password: "pw" } });
      const img = await store.imageStatus(ref);
      assert.equal(img?.id, id);
      // The repo digest names the platform manifest, not the list (as containerd reports it).
      const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
        manifests: { digest: string }[];
      };
      assert.deepEqual(img.repoDigests, [
        `${fake.host}/team/bb@${index.manifests[0]?.digest ?? ""}`,
      ]);
      assert.ok(fake.requests.some((r) => r.startsWith("GET /token?")));
      assert.ok(!fake.requests.some((r) => r.includes("1111111111")), "arm64 entry not fetched");
    } finally {
      await fake.close();
    }
  });
});
