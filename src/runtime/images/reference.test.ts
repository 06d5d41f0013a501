import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatReference, isImageId, normalizeReference, parseReference } from "./reference.js";

const HEX = "a".repeat(64);

describe("PL-IMG-2 reference normalization", () => {
  const cases: [string, string][] = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.28", "docker.io/library/busybox:1.28"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["someone/app:v2", "docker.io/someone/app:v2"],
    ["index.docker.io/library/nginx", "docker.io/library/nginx:latest"],
    ["docker.io/nginx", "docker.io/library/nginx:latest"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/x:1", "localhost:5000/x:1"],
    ["127.0.0.1:5000/a/b/c:tag_1.0-x", "127.0.0.1:5000/a/b/c:tag_1.0-x"],
    ["quay.io/org/img", "quay.io/org/img:latest"],
    [`busybox@sha256:${HEX}`, `docker.io/library/busybox@sha256:${HEX}`],
    [`nginx:latest@sha256:${HEX}`, `docker.io/library/nginx:latest@sha256:${HEX}`],
    ["my_repo/a__b/c-d.e", "docker.io/my_repo/a__b/c-d.e:latest"],
  ];
  for (const [input, want] of cases) {
    test(`${input} → ${want}`, () => {
      assert.equal(formatReference(normalizeReference(input)), want);
    });
  }

  test("parseReference does not add a default tag", () => {
    assert.deepEqual(parseReference("busybox"), { domain: "docker.io", path: "library/busybox" });
    assert.deepEqual(parseReference(`x@sha256:${HEX}`), {
      domain: "docker.io",
      path: "library/x",
      digest: `sha256:${HEX}`,
    });
  });

  const invalid = [
    "",
    "Busybox",
    "docker.io/Library/busybox",
    "busybox:",
    "busybox:-bad",
    "a//b",
    "-a",
    "busybox@sha256:short",
    HEX,
    `x:${"t".repeat(129)}`,
  ];
  for (const input of invalid) {
    test(`rejects ${JSON.stringify(input)} with RangeError`, () => {
      assert.throws(() => parseReference(input), RangeError);
    });
  }

  test("upper-case repository names say they must be lowercase", () => {
    assert.throws(() => parseReference("Busybox"), /must be lowercase/);
  });

  test("an upper-case first path part is a registry host", () => {
    assert.deepEqual(parseReference("Registry/app"), { domain: "Registry", path: "app" });
  });

  test("isImageId accepts sha256:<hex> and bare hex only", () => {
    assert.ok(isImageId(`sha256:${HEX}`));
    assert.ok(isImageId(HEX));
    assert.ok(!isImageId("busybox"));
    assert.ok(!isImageId(`sha256:${HEX.slice(1)}`));
  });
});
