import assert from "node:assert/strict";
import { test } from "node:test";
import {
  imageTagForDefaulting,
  isInvalidImageReference,
  normalizeImageReference,
  parseImageReference,
} from "./image.js";

const DIGEST = `sha256:${"a".repeat(64)}`;

test("PL-IMG-2 normalizeImageReference adds docker.io, library/ and :latest", () => {
  const cases: [string, string][] = [
    ["nginx", "docker.io/library/nginx:latest"],
    ["nginx:1.25", "docker.io/library/nginx:1.25"],
    ["busybox:latest", "docker.io/library/busybox:latest"],
    ["user/app", "docker.io/user/app:latest"],
    ["quay.io/org/app:v1", "quay.io/org/app:v1"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app:dev", "localhost:5000/app:dev"],
    [`nginx@${DIGEST}`, `docker.io/library/nginx@${DIGEST}`],
    [`nginx:1.2@${DIGEST}`, `docker.io/library/nginx:1.2@${DIGEST}`],
    ["registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"],
  ];
  for (const [ref, want] of cases) assert.equal(normalizeImageReference(ref), want, ref);
});

test("parseImageReference splits domain, path, tag and digest", () => {
  assert.deepEqual(parseImageReference("quay.io/org/app:v1"), {
    domain: "quay.io",
    path: "org/app",
    name: "quay.io/org/app",
    tag: "v1",
  });
  assert.deepEqual(parseImageReference(`nginx@${DIGEST}`), {
    domain: "docker.io",
    path: "library/nginx",
    name: "docker.io/library/nginx",
    digest: DIGEST,
  });
});

test("PL-EDGE-15 upper-case and malformed names fail with upstream's text", () => {
  const cases: [string, string][] = [
    ["Nginx", "invalid reference format: repository name (library/Nginx) must be lowercase"],
    ["nginx:", "invalid reference format"],
    ["", "repository name must have at least one component"],
    [
      "a".repeat(64),
      `invalid repository name (${"a".repeat(64)}), cannot specify 64-byte hexadecimal strings`,
    ],
    ["nginx@sha256:abcd", "invalid reference format"],
    [`nginx@sha256:${"a".repeat(40)}`, "invalid checksum digest length"],
  ];
  for (const [ref, msg] of cases) {
    assert.throws(
      () => parseImageReference(ref),
      (err: unknown) => isInvalidImageReference(err) && err.message === msg,
      ref,
    );
  }
});

test("PL-IMG-1 imageTagForDefaulting: latest for untagged, empty for digest-only", () => {
  assert.equal(imageTagForDefaulting("nginx"), "latest");
  assert.equal(imageTagForDefaulting("nginx:latest"), "latest");
  assert.equal(imageTagForDefaulting("nginx:1.25"), "1.25");
  assert.equal(imageTagForDefaulting(`nginx@${DIGEST}`), "");
  assert.equal(imageTagForDefaulting(`nginx:latest@${DIGEST}`), "latest");
  assert.equal(imageTagForDefaulting("Nginx"), "");
});
