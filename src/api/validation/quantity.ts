import type { Quantity } from "../core.js";

/** The regular expression upstream's resource.ParseQuantity accepts (as quoted in its error). */
export const QUANTITY_REGEX_TEXT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/** Upstream's message for an unparseable quantity (resource.ErrFormatWrong). */
export const QUANTITY_FORMAT_ERROR = `quantities must match the regular expression '${QUANTITY_REGEX_TEXT}'`;

const QUANTITY_RE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

/** How a quantity was written, which decides how it is rendered back (resource.Format). */
export type QuantityFormat = "DecimalSI" | "BinarySI" | "DecimalExponent";

/** A parsed quantity: its value in base units (bytes, cores) and the format it was written in. */
export interface ParsedQuantity {
  value: number;
  format: QuantityFormat;
}

/**
 * Parses a quantity string or number without throwing; `undefined` when it does not match
 * upstream's grammar (`100m`, `64Mi`, `1e3`, `0.5`).
 */
export function tryParseQuantity(q: Quantity): ParsedQuantity | undefined {
  if (typeof q === "number") {
    return Number.isFinite(q) ? { value: q, format: "DecimalSI" } : undefined;
  }
  const s = q.trim();
  const m = QUANTITY_RE.exec(s);
  if (m === null) return undefined;
  const num = m[1] ?? "";
  const suffix = m[2] ?? "";
  // The number part may hold at most one dot and at least one digit.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(num)) return undefined;
  const base = Number(num);
  if (!Number.isFinite(base)) return undefined;
  const bin = BINARY[suffix];
  if (bin !== undefined) return { value: base * bin, format: "BinarySI" };
  const dec = DECIMAL[suffix];
  if (dec !== undefined) return { value: scale(base, dec), format: "DecimalSI" };
  const exp = /^[eE]([-+]?\d+)$/.exec(suffix);
  if (exp !== null) return { value: scale(base, Number(exp[1])), format: "DecimalExponent" };
  return undefined;
}

function scale(base: number, exp10: number): number {
  // Dividing by a power of ten keeps `100m` exactly 0.1 where multiplying by 1e-3 would not.
  return exp10 >= 0 ? base * 10 ** exp10 : base / 10 ** -exp10;
}

/**
 * Parses a quantity into base units: bytes for memory, cores for cpu (`100m` → 0.1).
 * Throws RangeError with upstream's message when the text is not a quantity.
 */
export function parseQuantity(q: Quantity): number {
  const p = tryParseQuantity(q);
  if (p === undefined) throw new RangeError(QUANTITY_FORMAT_ERROR);
  return p.value;
}

/** Parses a cpu quantity into whole millicores, rounding up as upstream's MilliValue does. */
export function parseMilliCpu(q: Quantity): number {
  return Math.ceil(Math.round(parseQuantity(q) * 1e6) / 1e3);
}

const DEC_SUFFIXES: [string, number][] = [
  ["E", 18],
  ["P", 15],
  ["T", 12],
  ["G", 9],
  ["M", 6],
  ["k", 3],
  ["", 0],
  ["m", -3],
  ["u", -6],
  ["n", -9],
];
const BIN_SUFFIXES: [string, number][] = [
  ["Ei", 2 ** 60],
  ["Pi", 2 ** 50],
  ["Ti", 2 ** 40],
  ["Gi", 2 ** 30],
  ["Mi", 2 ** 20],
  ["Ki", 2 ** 10],
];

/**
 * Renders a value in base units canonically, as upstream's Quantity.String() does:
 * BinarySI uses the largest binary suffix that keeps an integer (`1536Mi`) and falls back to
 * decimal for fractions; DecimalSI uses the largest SI suffix that keeps an integer (`100m`,
 * `2k`, `1`); values below a nano-unit round up to `1n`.
 */
export function formatQuantity(value: number, format: QuantityFormat = "DecimalSI"): string {
  if (value === 0) return "0";
  const sign = value < 0 ? "-" : "";
  const abs = Math.abs(value);
  if (format === "BinarySI" && Number.isInteger(abs) && abs >= 1024) {
    for (const [suffix, mult] of BIN_SUFFIXES) {
      if (abs % mult === 0) return `${sign}${abs / mult}${suffix}`;
    }
  }
  if (format === "BinarySI" && Number.isInteger(abs)) return `${sign}${abs}`;
  // Work in integral nano units so that 0.1 renders as 100m, not 100.00000000000001m.
  const nanos = Math.ceil(Math.round(abs * 1e9 * 1e3) / 1e3);
  let big = BigInt(nanos);
  let exp = -9;
  while (exp < 18 && big % 1000n === 0n) {
    big /= 1000n;
    exp += 3;
  }
  const suffix = DEC_SUFFIXES.find(([, e]) => e === exp)?.[0] ?? "";
  return `${sign}${big.toString()}${suffix}`;
}

/**
 * The canonical text of a quantity as written in a manifest (`1000m` → `1`, `1024Mi` → `1Gi`,
 * `0.5` → `500m`). Throws RangeError for text that is not a quantity.
 */
export function canonicalQuantity(q: Quantity): string {
  const p = tryParseQuantity(q);
  if (p === undefined) throw new RangeError(QUANTITY_FORMAT_ERROR);
  return formatQuantity(p.value, p.format === "BinarySI" ? "BinarySI" : "DecimalSI");
}
