/**
 * A CPU amount in nanocores as the canonical Kubernetes quantity metrics-server serves
 * (`"1002345678n"`, `"5m"`, `"2"`): the largest decimal suffix that keeps the value an
 * integer. Negative or fractional input is rounded and clamped to 0 (a counter reset).
 */
export function formatNanoCores(nanoCores: number): string {
  const n = Math.max(0, Math.round(nanoCores));
  if (n === 0) return "0";
  if (n % 1e9 === 0) return String(n / 1e9);
  if (n % 1e6 === 0) return `${String(n / 1e6)}m`;
  if (n % 1e3 === 0) return `${String(n / 1e3)}u`;
  return `${String(n)}n`;
}

const BINARY_SUFFIXES: readonly [string, number][] = [
  ["Ei", 2 ** 60],
  ["Pi", 2 ** 50],
  ["Ti", 2 ** 40],
  ["Gi", 2 ** 30],
  ["Mi", 2 ** 20],
  ["Ki", 2 ** 10],
];

/**
 * A byte count as the canonical binary-SI quantity (`"2048Ki"` → `"2Mi"`, `"1500"`): the
 * largest power-of-1024 suffix that keeps the value an integer, as upstream prints memory.
 */
export function formatBytes(bytes: number): string {
  const n = Math.max(0, Math.round(bytes));
  if (n === 0) return "0";
  for (const [suffix, size] of BINARY_SUFFIXES) {
    if (n % size === 0) return `${String(n / size)}${suffix}`;
  }
  return String(n);
}

/** A duration in Go's `time.Duration.String()` form for windows (`"10.5s"`, `"1m0.25s"`, `"0s"`). */
export function formatGoDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  if (total === 0) return "0s";
  if (total < 1000) return `${String(total)}ms`;
  const minutes = Math.floor(total / 60_000);
  const seconds = String((total % 60_000) / 1000);
  return minutes > 0 ? `${String(minutes)}m${seconds}s` : `${seconds}s`;
}
