import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "../api/index.js";
import { compileFilter, matchesFilter, matchesLabels, parseLabelSelector } from "./selectors.js";

test("KA-LIST-3 parseLabelSelector understands every operator and ANDs requirements", () => {
  const reqs = parseLabelSelector(
    "app=web, tier in (fe, be),!legacy,env notin (prod),track,x!=y,n>3",
  );
  assert.deepEqual(
    reqs.map((r) => [r.key, r.op, r.values]),
    [
      ["app", "=", ["web"]],
      ["tier", "in", ["fe", "be"]],
      ["legacy", "!", []],
      ["env", "notin", ["prod"]],
      ["track", "exists", []],
      ["x", "!=", ["y"]],
      ["n", "gt", ["3"]],
    ],
  );
  const labels = { app: "web", tier: "fe", env: "dev", track: "stable", n: "4" };
  assert.equal(matchesLabels(reqs, labels), true);
  assert.equal(matchesLabels(reqs, { ...labels, legacy: "1" }), false);
  assert.equal(matchesLabels(reqs, { ...labels, env: "prod" }), false);
  assert.equal(matchesLabels(reqs, { ...labels, n: "3" }), false);
});

test("parseLabelSelector rejects malformed requirements with BadRequest", () => {
  for (const bad of ["a b", "app=(x", "=x", "a in (b"]) {
    assert.throws(() => parseLabelSelector(bad), { reason: "BadRequest" }, bad);
  }
});

test("KA-LIST-4 field selectors: empty values, != and per-kind fields", () => {
  const f = compileFilter(
    "",
    "events",
    undefined,
    "involvedObject.name=web,involvedObject.namespace=,type!=Warning",
  );
  const ev: KubeObject & Record<string, unknown> = {
    metadata: { name: "e1", namespace: "default" },
    involvedObject: { name: "web" },
    type: "Normal",
  };
  assert.equal(matchesFilter(f, ev), true);
  const warning: KubeObject & Record<string, unknown> = { ...ev, type: "Warning" };
  assert.equal(matchesFilter(f, warning), false);
  assert.throws(() => compileFilter("", "configmaps", undefined, "spec.nodeName=x"), {
    message: "field label not supported: spec.nodeName",
  });
});
