import assert from "node:assert/strict";
import { test } from "node:test";
import { hasReason } from "../../api/index.js";
import { decodeBody, mediaTypeOf } from "./body.js";

const enc = (s: string): Uint8Array => Buffer.from(s);
const isBadRequest = (err: unknown): boolean => hasReason(err, "BadRequest");

test("KA-HTTP-4 a body without Content-Type is JSON", () => {
  assert.deepEqual(decodeBody(enc('{"a":1}'), undefined, { isPatch: false }), {
    body: { a: 1 },
    contentType: "application/json",
  });
});

test("patch content types keep their media type; parameters are dropped", () => {
  const d = decodeBody(enc('{"a":null}'), "application/merge-patch+json; charset=utf-8", {
    isPatch: true,
  });
  assert.equal(d.contentType, "application/merge-patch+json");
  assert.deepEqual(d.body, { a: null });
  assert.equal(mediaTypeOf("Application/JSON;charset=utf-8"), "application/json");
});

test("KA-SSA-2 apply-patch+yaml parses YAML and JSON text", () => {
  const y = decodeBody(enc("a: 1\nb: [x]\n"), "application/apply-patch+yaml", { isPatch: true });
  assert.deepEqual(y.body, { a: 1, b: ["x"] });
  const j = decodeBody(enc('{"kind":"Pod"}'), "application/apply-patch+yaml", { isPatch: true });
  assert.deepEqual(j.body, { kind: "Pod" });
});

test("malformed JSON and YAML are 400 BadRequest", () => {
  assert.throws(
    () => decodeBody(enc("{nope"), "application/json", { isPatch: false }),
    isBadRequest,
  );
  assert.throws(
    () => decodeBody(enc("{nope"), "application/strategic-merge-patch+json", { isPatch: true }),
    (err: unknown) =>
      isBadRequest(err) && (err as Error).message.startsWith("error decoding patch"),
  );
  assert.throws(
    () => decodeBody(enc("a: [1\n"), "application/apply-patch+yaml", { isPatch: true }),
    isBadRequest,
  );
});

test("nesting deeper than the limit is 400, strings with brackets do not count", () => {
  assert.throws(
    () => decodeBody(enc("[".repeat(101) + "]".repeat(101)), undefined, { isPatch: false }),
    isBadRequest,
  );
  const ok = decodeBody(enc(JSON.stringify({ s: "[[[[[[[[[[".repeat(20) })), undefined, {
    isPatch: false,
  });
  assert.ok(ok.body);
  assert.throws(
    () =>
      decodeBody(
        enc("a:\n" + "  ".repeat(1) + "- ".repeat(120) + "x\n"),
        "application/apply-patch+yaml",
        { isPatch: true },
      ),
    isBadRequest,
  );
});

test("invalid UTF-8 is 400", () => {
  assert.throws(
    () => decodeBody(Uint8Array.from([0x22, 0xc3, 0x28, 0x22]), undefined, { isPatch: false }),
    isBadRequest,
  );
});

test("empty bodies have no body; unknown types pass through as rawBody", () => {
  assert.deepEqual(decodeBody(new Uint8Array(), undefined, { isPatch: false }), {
    contentType: "application/json",
  });
  const d = decodeBody(enc("<x/>"), "application/xml", { isPatch: false });
  assert.equal(d.contentType, "application/xml");
  assert.deepEqual(d.rawBody, enc("<x/>"));
});
