import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Secret } from "../api/index.js";
import {
  DockerKeyring,
  dockerConfigOfJson,
  dockerConfigOfSecret,
  pullWithCredentials,
} from "./keyring.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("DockerKeyring (upstream credentialprovider matching)", () => {
  test("host, port and path prefix must match; the most specific location comes first", () => {
    const k = DockerKeyring.of({
      "127.0.0.1:5000": { username: "any", password: "1" },
      "http://127.0.0.1:5000/team/": { username: "team", password: "2" },
      "127.0.0.1:5001": { username: "other-port", password: "3" },
    });
    assert.deepEqual(
      k.lookup("127.0.0.1:5000/team/app").map((c) => c.username),
      ["team", "any"],
    );
    assert.deepEqual(
      k.lookup("127.0.0.1:5000/solo/app").map((c) => c.username),
      ["any"],
    );
    assert.deepEqual(k.lookup("127.0.0.2:5000/team/app"), []);
  });

  test("wildcards match one host label each", () => {
    const k = DockerKeyring.of({ "*.example.com": { username: "w", password: "p" } });
    assert.equal(k.lookup("reg.example.com/a/b").length, 1);
    assert.equal(k.lookup("a.reg.example.com/a/b").length, 0);
    assert.equal(k.lookup("example.com/a/b").length, 0);
  });

  test("the old Docker Hub key (https://index.docker.io/v1/) serves docker.io images", () => {
    const k = DockerKeyring.of({ "https://index.docker.io/v1/": { auth: b64("hub:secret") } });
    assert.deepEqual(k.lookup("docker.io/library/busybox"), [
      { username: "hub", password: "secret" },
    ]);
    assert.deepEqual(k.lookup("quay.io/x/y"), []);
  });

  test("pull secrets: dockerconfigjson and dockercfg; other types are ignored", () => {
    const json: Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "a" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": b64('{"auths":{"r.io":{"username":"u","password":"p"}}}') },
    };
    const cfg: Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "b" },
      type: "kubernetes.io/dockercfg",
      data: { ".dockercfg": b64('{"r.io":{"auth":"' + b64("v:q") + '"}}') },
    };
    assert.deepEqual(dockerConfigOfSecret(json), { "r.io": { username: "u", password: "p" } });
    assert.deepEqual(DockerKeyring.of(dockerConfigOfSecret(cfg) ?? {}).lookup("r.io/x"), [
      { username: "v", password: "q" },
    ]);
    assert.equal(dockerConfigOfSecret({ ...json, type: "Opaque" }), undefined);
    assert.equal(
      dockerConfigOfSecret({ ...json, data: { ".dockerconfigjson": b64("{not json") } }),
      undefined,
    );
    assert.deepEqual(dockerConfigOfJson('{"credsStore":"x"}'), {});
  });
});

describe("pullWithCredentials", () => {
  test("anonymous without credentials; otherwise each in turn until one succeeds", async () => {
    const seen: (string | undefined)[] = [];
    assert.equal(
      await pullWithCredentials([], (a) => {
        seen.push(a?.username);
        return Promise.resolve("id");
      }),
      "id",
    );
    assert.deepEqual(seen, [undefined]);
    const tried: (string | undefined)[] = [];
    const id = await pullWithCredentials([{ username: "bad" }, { username: "good" }], (a) => {
      tried.push(a?.username);
      return a?.username === "good" ? Promise.resolve("ok") : Promise.reject(new Error("401"));
    });
    assert.equal(id, "ok");
    assert.deepEqual(tried, ["bad", "good"]);
  });

  test("all failing: one error as is, several as upstream's aggregate", async () => {
    const fail = (): Promise<string> => Promise.reject(new Error("unauthorized"));
    await assert.rejects(pullWithCredentials([{}], fail), /^Error: unauthorized$/);
    await assert.rejects(
      pullWithCredentials([{}, {}], fail),
      (err: unknown) => err instanceof Error && err.message === "[unauthorized, unauthorized]",
    );
  });
});
