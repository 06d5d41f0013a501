import assert from "node:assert/strict";
import { test } from "node:test";
import { PullProgressBar } from "./pull-progress.js";

test("the pull progress bar sums the layers seen so far and counts finished ones", () => {
  const bar = new PullProgressBar("busybox:1.28");
  assert.equal(bar.line(), `busybox:1.28 [${".".repeat(30)}] 0.0/0.0 MB  0/0 layers`);
  bar.update({ layer: "sha256:a", currentBytes: 1_000_000, totalBytes: 2_000_000 });
  bar.update({ layer: "sha256:b", currentBytes: 2_000_000, totalBytes: 2_000_000 });
  assert.equal(
    bar.line(),
    `busybox:1.28 [${"#".repeat(22)}${".".repeat(8)}] 3.0/4.0 MB  1/2 layers`,
  );
  bar.update({ layer: "sha256:a", currentBytes: 2_000_000, totalBytes: 2_000_000 });
  assert.equal(bar.line(), `busybox:1.28 [${"#".repeat(30)}] 4.0/4.0 MB  2/2 layers`);
});
