import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ConfigMap } from "../../api/index.js";
import { Client, FakeApiHandler, HandlerTransport } from "../../client/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { ROOT_CA_CONFIGMAP, ROOT_CA_DESCRIPTION, RootCaPublisher } from "./controller.js";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

async function eventually<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("RootCaPublisher", () => {
  const handler = new FakeApiHandler();
  const client = new Client(new HandlerTransport(handler));
  const ac = new AbortController();
  let running: Promise<void>;
  const published = (ns: string) =>
    eventually(async () => {
      const cm = await client
        .configMaps(ns)
        .get(ROOT_CA_CONFIGMAP)
        .catch(() => undefined);
      return cm?.data?.["ca.crt"] === CA ? cm : undefined;
    }, `kube-root-ca.crt in ${ns}`);

  before(async () => {
    await client.namespaces().create({ metadata: { name: "default" } });
    // Event-driven: nothing here waits on the clock unless a write fails.
    running = new RootCaPublisher({
      client,
      caPem: CA,
      clock: new FakeClock(Date.UTC(2025, 0, 1)),
      logger: nullLogger,
    }).run(ac.signal);
  });
  after(async () => {
    ac.abort();
    await running;
  });

  test("publishes kube-root-ca.crt in existing and new namespaces", async () => {
    const cm = await published("default");
    assert.deepEqual(cm.data, { "ca.crt": CA });
    assert.equal(cm.metadata.annotations?.["kubernetes.io/description"], ROOT_CA_DESCRIPTION);
    await client.namespaces().create({ metadata: { name: "team" } });
    await published("team");
  });

  test("recreates the ConfigMap after it is deleted", async () => {
    await published("default");
    await client.configMaps("default").delete(ROOT_CA_CONFIGMAP);
    await published("default");
  });

  test("puts the CA back when the ConfigMap is changed", async () => {
    const cm = await published("default");
    const changed: ConfigMap = { ...cm, data: { "ca.crt": "tampered", extra: "x" } };
    await client.configMaps("default").update(changed);
    const fixed = await eventually(async () => {
      const c = await client.configMaps("default").get(ROOT_CA_CONFIGMAP);
      return c.data?.["extra"] === undefined && c.data?.["ca.crt"] === CA ? c : undefined;
    }, "restored CA");
    assert.deepEqual(fixed.data, { "ca.crt": CA });
  });
});
