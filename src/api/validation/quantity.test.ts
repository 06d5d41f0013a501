import assert from "node:assert/strict";
import { test } from "node:test";
import {
  canonicalQuantity,
  formatQuantity,
  parseMilliCpu,
  parseQuantity,
  QUANTITY_FORMAT_ERROR,
  tryParseQuantity,
} from "./quantity.js";

test("parseQuantity converts suffixes to base units", () => {
  const cases: [string | number, number][] = [
    ["100m", 0.1],
    ["1", 1],
    ["0.5", 0.5],
    ["2", 2],
    ["64Mi", 64 * 1024 * 1024],
    ["1Gi", 1024 ** 3],
    ["1Ki", 1024],
    ["1k", 1000],
    ["1M", 1e6],
    ["1G", 1e9],
    ["1e3", 1000],
    ["1E3", 1000],
    ["500u", 0.0005],
    ["10n", 1e-8],
    [3, 3],
    ["+1", 1],
    [".5", 0.5],
  ];
  for (const [q, want] of cases) assert.equal(parseQuantity(q), want, String(q));
});

test("parseQuantity rejects malformed quantities with upstream's message", () => {
  for (const bad of ["", "abc", "1.2.3", "1Qi", "1 Gi", "Mi", "1mm"]) {
    assert.equal(tryParseQuantity(bad), undefined, bad);
    assert.throws(() => parseQuantity(bad), { name: "RangeError", message: QUANTITY_FORMAT_ERROR });
  }
});

test("parseMilliCpu rounds up to whole millicores", () => {
  assert.equal(parseMilliCpu("100m"), 100);
  assert.equal(parseMilliCpu("0.5"), 500);
  assert.equal(parseMilliCpu(2), 2000);
  assert.equal(parseMilliCpu("1500u"), 2);
});

test("canonicalQuantity renders like upstream's Quantity.String", () => {
  const cases: [string | number, string][] = [
    ["1000m", "1"],
    ["0.5", "500m"],
    ["100m", "100m"],
    ["1024Mi", "1Gi"],
    ["1536Mi", "1536Mi"],
    ["2000", "2k"],
    ["1e3", "1k"],
    ["64Mi", "64Mi"],
    ["0", "0"],
    [2, "2"],
    ["1.5", "1500m"],
    ["512", "512"],
  ];
  for (const [q, want] of cases) assert.equal(canonicalQuantity(q), want, String(q));
  assert.equal(formatQuantity(0.1), "100m");
  assert.equal(formatQuantity(3 * 1024 ** 3, "BinarySI"), "3Gi");
  assert.equal(formatQuantity(-2), "-2");
});
