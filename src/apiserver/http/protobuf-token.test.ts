import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeProtobufObject, PROTOBUF_MAGIC, protoRoot } from "./protobuf.js";

function str(s: string): string {
  return Buffer.from(s).toString("hex");
}

test("KA-PB-1 decodes a TokenRequest with upstream field numbers (kubectl create token)", () => {
  // TokenRequestSpec: audiences=1, boundObjectRef=3 {kind=1, name=3, uID=4}, expirationSeconds=4.
  const ref = `0a03${str("Pod")}1a03${str("web")}2203${str("u-1")}`;
  const spec = `0a03${str("api")}1a${(ref.length / 2).toString(16).padStart(2, "0")}${ref}20d804`;
  const raw = Buffer.from(
    `0a00 12${(spec.length / 2).toString(16).padStart(2, "0")}${spec}`.replace(/\s+/g, ""),
    "hex",
  );
  const unknown = protoRoot().lookupType("k8s.Unknown");
  const env = unknown
    .encode(
      unknown.fromObject({
        typeMeta: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest" },
        raw,
      }),
    )
    .finish();
  assert.deepEqual(decodeProtobufObject(Buffer.concat([PROTOBUF_MAGIC, env])), {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    metadata: {},
    spec: {
      audiences: ["api"],
      boundObjectRef: { kind: "Pod", name: "web", uid: "u-1" },
      expirationSeconds: 600,
    },
  });
});
