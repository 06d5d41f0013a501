import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "../api/index.js";
import { MemoryStore } from "../storage/index.js";
import { encodeJson, listOfStored, servedStored } from "./objects.js";
import { findResource } from "./resources.js";

const PODS = findResource("", "v1", "pods")!;

function listOf(store: MemoryStore): Promise<{ items: KubeObject[]; metadata: object }> {
  return store.list("/registry/core/pods/").then(({ items, revision }) =>
    listOfStored(
      {
        apiVersion: "v1",
        kind: "PodList",
        metadata: { resourceVersion: String(revision) },
        items: items.map((s) => servedStored(PODS, s)),
      },
      PODS,
      items,
    ),
  );
}

test("a list encodes exactly as JSON.stringify, and never serves text from before an update", async () => {
  const store = new MemoryStore();
  const pod = (name: string, label: string): object => ({
    metadata: { name, namespace: "default", labels: { v: label, 'quote"d': "a\u00e9\n" } },
    spec: { containers: [{ name: "c", image: "busybox" }] },
  });
  await store.create("/registry/core/pods/default/a", pod("a", "1"));
  const b = await store.create("/registry/core/pods/default/b", pod("b", "1"));
  const first = await listOf(store);
  assert.equal(encodeJson(first).toString(), JSON.stringify(first));
  assert.equal(encodeJson(await listOf(store)).toString(), JSON.stringify(await listOf(store)));

  await store.update("/registry/core/pods/default/b", pod("b", "2"), b.modRevision);
  const second = await listOf(store);
  assert.equal(encodeJson(second).toString(), JSON.stringify(second));
  assert.match(encodeJson(second).toString(), /"v":"2"/);
  await store.close();
});

test("a list whose items were replaced or resized falls back to a full encoding", async () => {
  const store = new MemoryStore();
  await store.create("/registry/core/pods/default/a", { metadata: { name: "a" } });
  const list = await listOf(store);
  list.items.push({ apiVersion: "v1", kind: "Pod", metadata: { name: "extra" } });
  assert.equal(encodeJson(list).toString(), JSON.stringify(list));
  const other = await listOf(store);
  other.items = [];
  assert.equal(encodeJson(other).toString(), JSON.stringify(other));
  assert.equal(encodeJson({ kind: "Status" }).toString(), JSON.stringify({ kind: "Status" }));
  await store.close();
});
