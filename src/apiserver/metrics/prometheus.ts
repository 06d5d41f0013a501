/** Upper bounds (seconds) of apiserver_request_duration_seconds, as upstream uses. */
export const REQUEST_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45,
  60,
];

/** Escapes a label value for the Prometheus text format. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `{a="1",b="2"}` from label pairs in the given order; empty string without labels. */
export function formatLabels(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return "";
  return `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/** A number as Prometheus prints it (`+Inf`, integers without exponent). */
export function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

/** One gauge family: `# HELP`, `# TYPE` and one sample per label set. */
export function gaugeText(
  name: string,
  help: string,
  samples: readonly { labels?: readonly (readonly [string, string])[]; value: number }[],
): string {
  let out = `# HELP ${name} ${help}\n# TYPE ${name} gauge\n`;
  for (const s of samples)
    out += `${name}${formatLabels(s.labels ?? [])} ${formatValue(s.value)}\n`;
  return out;
}

/** What one served API request is counted under. */
export interface RequestLabels {
  /** Upstream verb: GET, LIST, WATCH, POST, PUT, PATCH, DELETE, DELETECOLLECTION, APPLY. */
  verb: string;
  group: string;
  version: string;
  /** Plural resource, `""` for non-resource paths (`/version`, `/apis`). */
  resource: string;
  subresource: string;
  /** `resource`, `namespace`, `cluster` or `""` (non-resource paths), as upstream scopes. */
  scope: string;
}

interface Histogram {
  bucketCounts: number[];
  sum: number;
  count: number;
}

/**
 * The API server's request metrics: `apiserver_request_total` (counter by verb, group,
 * version, resource, subresource, scope, code) and `apiserver_request_duration_seconds`
 * (histogram by verb, group, version, resource, subresource, scope). Synchronous and
 * in memory; safe to call from concurrent requests (Node runs them on one thread).
 */
export class RequestMetrics {
  readonly #totals = new Map<string, { labels: [string, string][]; value: number }>();
  readonly #durations = new Map<string, { labels: [string, string][]; h: Histogram }>();

  /** Counts one finished request that took `durationMs` and answered `code`. */
  observe(l: RequestLabels, code: number, durationMs: number): void {
    // Label values never contain NUL, so joining them with it gives a unique key; the label
    // arrays are built only for a new series.
    const durKey = `${l.verb}\0${l.group}\0${l.version}\0${l.resource}\0${l.subresource}\0${l.scope}`;
    const totalKey = `${durKey}\0${String(code)}`;
    const base = (): [string, string][] => [
      ["verb", l.verb],
      ["group", l.group],
      ["version", l.version],
      ["resource", l.resource],
      ["subresource", l.subresource],
      ["scope", l.scope],
      ["component", "apiserver"],
    ];
    const t = this.#totals.get(totalKey);
    if (t === undefined) {
      this.#totals.set(totalKey, { labels: [...base(), ["code", String(code)]], value: 1 });
    } else {
      t.value++;
    }
    let d = this.#durations.get(durKey);
    if (d === undefined) {
      d = {
        labels: base(),
        h: { bucketCounts: REQUEST_DURATION_BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 },
      };
      this.#durations.set(durKey, d);
    }
    const seconds = Math.max(0, durationMs) / 1000;
    const counts = d.h.bucketCounts;
    for (let i = 0; i < REQUEST_DURATION_BUCKETS_SECONDS.length; i++) {
      if (seconds <= (REQUEST_DURATION_BUCKETS_SECONDS[i] ?? 0)) counts[i] = (counts[i] ?? 0) + 1;
    }
    d.h.sum += seconds;
    d.h.count++;
  }

  /** Both families in Prometheus text format 0.0.4. */
  text(): string {
    let out =
      "# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n" +
      "# TYPE apiserver_request_total counter\n";
    for (const t of this.#totals.values()) {
      out += `apiserver_request_total${formatLabels(t.labels)} ${formatValue(t.value)}\n`;
    }
    out +=
      "# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.\n" +
      "# TYPE apiserver_request_duration_seconds histogram\n";
    for (const d of this.#durations.values()) {
      REQUEST_DURATION_BUCKETS_SECONDS.forEach((le, i) => {
        const labels = formatLabels([...d.labels, ["le", formatValue(le)]]);
        out += `apiserver_request_duration_seconds_bucket${labels} ${formatValue(d.h.bucketCounts[i] ?? 0)}\n`;
      });
      out += `apiserver_request_duration_seconds_bucket${formatLabels([...d.labels, ["le", "+Inf"]])} ${formatValue(d.h.count)}\n`;
      out += `apiserver_request_duration_seconds_sum${formatLabels(d.labels)} ${formatValue(d.h.sum)}\n`;
      out += `apiserver_request_duration_seconds_count${formatLabels(d.labels)} ${formatValue(d.h.count)}\n`;
    }
    return out;
  }
}

/** Process metrics of this Node.js process (`process_resident_memory_bytes`, …). */
export function processMetricsText(startTimeMs: number): string {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  return (
    gaugeText("process_resident_memory_bytes", "Resident memory size in bytes.", [
      { value: mem.rss },
    ]) +
    gaugeText(
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.",
      [{ value: Math.floor(startTimeMs / 1000) }],
    ) +
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n" +
    "# TYPE process_cpu_seconds_total counter\n" +
    `process_cpu_seconds_total ${formatValue((cpu.user + cpu.system) / 1e6)}\n` +
    gaugeText("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", [
      { value: mem.heapUsed },
    ])
  );
}
