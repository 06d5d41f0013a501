import type { Quantity } from "../api/index.js";

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * The value of a resource.Quantity in base units (`100m` → 0.1, `64Mi` → 67108864,
 * `1e3` → 1000). Throws RangeError on a malformed quantity.
 */
export function parseQuantity(q: Quantity): number {
  if (typeof q === "number") return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(
    q.trim(),
  );
  if (m === null) throw new RangeError(`invalid quantity ${JSON.stringify(q)}`);
  const [, num = "0", exp, suffix = ""] = m;
  if (exp !== undefined) return Number(num + exp);
  const factor = BINARY[suffix] ?? DECIMAL[suffix] ?? 1;
  return Number(num) * factor;
}

/** A quantity in thousandths, rounded up (how CPU is compared: millicores). */
export function parseMilli(q: Quantity): number {
  return Math.ceil(parseQuantity(q) * 1000 - 1e-9);
}
