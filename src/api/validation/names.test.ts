import assert from "node:assert/strict";
import { test } from "node:test";
import {
  isConfigMapKey,
  isDns1123Label,
  isDns1123Subdomain,
  isEnvVarName,
  isIP,
  isQualifiedName,
  isValidPortName,
  regexError,
} from "./names.js";

test("regexError joins examples with upstream's double space", () => {
  assert.equal(regexError("m", "r"), "m (regex used for validation is 'r')");
  assert.equal(regexError("m", "r", "a"), "m (e.g. 'a', regex used for validation is 'r')");
  assert.equal(
    regexError("m", "r", "a", "b"),
    "m (e.g. 'a',  or 'b', regex used for validation is 'r')",
  );
});

test("DNS-1123 label and subdomain", () => {
  assert.deepEqual(isDns1123Label("web-1"), []);
  assert.equal(isDns1123Label("a".repeat(64))[0], "must be no more than 63 characters");
  assert.equal(isDns1123Label("a.b").length, 1);
  assert.deepEqual(isDns1123Subdomain("a.b-c.d"), []);
  assert.equal(isDns1123Subdomain("-a").length, 1);
});

test("qualified names: prefix and name parts", () => {
  assert.deepEqual(isQualifiedName("app.kubernetes.io/name"), []);
  assert.deepEqual(isQualifiedName("/x"), ["prefix part must be non-empty"]);
  assert.deepEqual(isQualifiedName("x/"), ["name part must be non-empty"]);
  assert.equal(isQualifiedName("a".repeat(64))[0], "name part must be no more than 63 characters");
  assert.match(isQualifiedName("a/b/c")[0] ?? "", /^a qualified name must consist of/);
  assert.match(isQualifiedName("Bad_/x")[0] ?? "", /^prefix part a lowercase RFC 1123 subdomain/);
});

test("config keys, port names, env names, IPs", () => {
  assert.deepEqual(isConfigMapKey("key.name"), []);
  assert.deepEqual(isConfigMapKey("."), ["must not be '.'"]);
  assert.deepEqual(isConfigMapKey(".."), ["must not be '..'"]);
  assert.deepEqual(isValidPortName("http"), []);
  assert.deepEqual(isValidPortName("123"), ["must contain at least one letter (a-z)"]);
  assert.deepEqual(isValidPortName("a--b"), [
    "must contain consecutive hyphens".replace("must", "must not"),
  ]);
  assert.equal(isValidPortName("abcdefghijklmnop")[0], "must be no more than 15 characters");
  assert.deepEqual(isEnvVarName("1.a-b c"), []);
  assert.equal(isEnvVarName("").length, 1);
  assert.ok(isIP("10.0.0.1"));
  assert.ok(isIP("2001:db8::1"));
  assert.ok(!isIP("10.0.0.256"));
  assert.ok(!isIP("nope"));
});
