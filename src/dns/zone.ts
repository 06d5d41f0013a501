import type { EndpointSlice, Service } from "../api/index.js";

/** Record types the cluster zone answers. */
export type ZoneRecordType = "A" | "AAAA" | "SRV" | "PTR" | "CNAME";

/** One answer record (names are lower-case, without the trailing dot). */
export type ZoneRecord =
  | { type: "A" | "AAAA" | "PTR" | "CNAME"; name: string; data: string }
  | {
      type: "SRV";
      name: string;
      data: { priority: number; weight: number; port: number; target: string };
    };

/** How a name resolved inside the zone. */
export type ZoneAnswer =
  | { kind: "records"; records: ZoneRecord[] }
  /** The name exists, but has no records of that type (NOERROR, empty answer, SOA). */
  | { kind: "nodata" }
  | { kind: "nxdomain" }
  /** The name is not inside any zone this server is authoritative for. */
  | { kind: "outside" };

/** Options of {@link ClusterZone}. */
export interface ClusterZoneOptions {
  /** @default "cluster.local" */
  clusterDomain?: string;
}

/**
 * The `cluster.local` zone as the CoreDNS kubernetes plugin serves it, built from Services
 * and EndpointSlices: `<svc>.<ns>.svc` A/AAAA (ClusterIP, or every ready endpoint for headless
 * Services), `<host>.<svc>.<ns>.svc` for headless endpoints, SRV `_<port>._<proto>.<svc>…`,
 * ExternalName CNAMEs, `<a-b-c-d>.<ns>.pod` pod records, PTR for service and endpoint IPs.
 * `update` rebuilds the index; `answer` is a pure lookup. Not safe for concurrent mutation
 * (single JS thread).
 */
export class ClusterZone {
  readonly domain: string;
  /** Bumped by every `update`: answers computed under an older generation may be stale. */
  generation = 0;
  #records = new Map<string, ZoneRecord[]>();
  /** Every name that exists (with or without records), including empty non-terminals. */
  #names = new Set<string>();

  constructor(opts: ClusterZoneOptions = {}) {
    this.domain = (opts.clusterDomain ?? "cluster.local").toLowerCase().replace(/\.$/, "");
  }

  /** Rebuilds the zone from the current Services and EndpointSlices. */
  update(services: readonly Service[], slices: readonly EndpointSlice[]): void {
    const records = new Map<string, ZoneRecord[]>();
    const names = new Set<string>();
    // One key per distinct record: a record seen twice (e.g. a port in two slices) is kept once.
    const seen = new Set<string>();
    const add = (r: ZoneRecord): void => {
      const key = JSON.stringify(r);
      if (seen.has(key)) return;
      seen.add(key);
      const list = records.get(r.name);
      if (list === undefined) records.set(r.name, [r]);
      else list.push(r);
      this.#addName(names, r.name);
    };
    const slicesBySvc = new Map<string, EndpointSlice[]>();
    for (const s of slices) {
      const svc = s.metadata.labels?.["kubernetes.io/service-name"];
      if (svc === undefined) continue;
      const key = `${s.metadata.namespace ?? ""}/${svc}`;
      slicesBySvc.set(key, [...(slicesBySvc.get(key) ?? []), s]);
    }
    for (const svc of services) {
      const ns = svc.metadata.namespace ?? "default";
      const name = svc.metadata.name ?? "";
      const fqdn = `${name}.${ns}.svc.${this.domain}`.toLowerCase();
      this.#addName(names, fqdn);
      const spec = svc.spec ?? {};
      if (spec.type === "ExternalName" && spec.externalName !== undefined) {
        add({ type: "CNAME", name: fqdn, data: spec.externalName.replace(/\.$/, "") });
        continue;
      }
      const headless = spec.clusterIP === "None";
      const ports = spec.ports ?? [];
      if (!headless) {
        for (const ip of spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])) {
          if (ip === "" || ip === "None") continue;
          add({ type: ip.includes(":") ? "AAAA" : "A", name: fqdn, data: ip });
          add({ type: "PTR", name: reverseName(ip), data: fqdn });
        }
        for (const p of ports) {
          if (p.name === undefined || p.name === "") continue;
          add({
            type: "SRV",
            name: `_${p.name}._${(p.protocol ?? "TCP").toLowerCase()}.${fqdn}`,
            data: { priority: 0, weight: 100, port: p.port, target: fqdn },
          });
          add({
            type: "SRV",
            name: fqdn,
            data: { priority: 0, weight: 100, port: p.port, target: fqdn },
          });
        }
        continue;
      }
      const publishNotReady = spec.publishNotReadyAddresses === true;
      for (const slice of slicesBySvc.get(`${ns}/${name}`) ?? []) {
        for (const ep of slice.endpoints) {
          const ready = ep.conditions?.ready !== false;
          if (!ready && !publishNotReady) continue;
          for (const ip of ep.addresses) {
            const host = (
              ep.hostname ?? ip.replaceAll(".", "-").replaceAll(":", "-")
            ).toLowerCase();
            const hostFqdn = `${host}.${fqdn}`;
            const type = ip.includes(":") ? "AAAA" : "A";
            add({ type, name: fqdn, data: ip });
            add({ type, name: hostFqdn, data: ip });
            add({ type: "PTR", name: reverseName(ip), data: hostFqdn });
            for (const p of slice.ports ?? []) {
              if (p.name === undefined || p.name === "") continue;
              const srv = { priority: 0, weight: 100, port: p.port, target: hostFqdn };
              add({
                type: "SRV",
                name: `_${p.name}._${(p.protocol ?? "TCP").toLowerCase()}.${fqdn}`,
                data: srv,
              });
              add({ type: "SRV", name: fqdn, data: srv });
            }
          }
        }
      }
    }
    this.#records = records;
    this.#names = names;
    this.generation++;
  }

  /** Resolves `name` (any case, trailing dot optional) for `type`. */
  answer(name: string, type: string): ZoneAnswer {
    const n = name.toLowerCase().replace(/\.$/, "");
    if (n.endsWith(".in-addr.arpa") || n.endsWith(".ip6.arpa")) {
      if (type !== "PTR") return this.#records.has(n) ? { kind: "nodata" } : { kind: "outside" };
      const recs = this.#records.get(n);
      return recs === undefined ? { kind: "outside" } : { kind: "records", records: recs };
    }
    if (n !== this.domain && !n.endsWith(`.${this.domain}`)) return { kind: "outside" };
    const pod = this.#podRecord(n, type);
    if (pod !== undefined) return pod;
    const recs = (this.#records.get(n) ?? []).filter((r) => r.type === type || r.type === "CNAME");
    if (recs.length > 0) return { kind: "records", records: recs };
    if (
      this.#names.has(n) ||
      n === this.domain ||
      n === `svc.${this.domain}` ||
      n === `pod.${this.domain}`
    ) {
      return { kind: "nodata" };
    }
    return { kind: "nxdomain" };
  }

  /** `1-2-3-4.<ns>.pod.<domain>` → A 1.2.3.4 (CoreDNS `pods insecure`). */
  #podRecord(n: string, type: string): ZoneAnswer | undefined {
    const suffix = `.pod.${this.domain}`;
    if (!n.endsWith(suffix)) return undefined;
    const labels = n.slice(0, -suffix.length).split(".");
    if (labels.length === 1) return { kind: "nodata" }; // the namespace itself
    if (labels.length !== 2) return { kind: "nxdomain" };
    const ip = (labels[0] ?? "").split("-");
    if (ip.length !== 4 || !ip.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255))
      return { kind: "nxdomain" };
    if (type !== "A") return { kind: "nodata" };
    return { kind: "records", records: [{ type: "A", name: n, data: ip.join(".") }] };
  }

  #addName(names: Set<string>, name: string): void {
    // Every suffix of a name inside the zone exists (empty non-terminals answer NODATA).
    let n = name;
    for (;;) {
      names.add(n);
      const i = n.indexOf(".");
      if (i < 0 || n === this.domain) break;
      n = n.slice(i + 1);
    }
  }
}

/** The in-addr.arpa / ip6.arpa name of an IP address. */
export function reverseName(ip: string): string {
  if (!ip.includes(":")) return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
  const groups = ip.split("::");
  const head = (groups[0] ?? "").split(":").filter((g) => g !== "");
  const tail = groups.length > 1 ? (groups[1] ?? "").split(":").filter((g) => g !== "") : [];
  const full = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
  const nibbles = full.map((g) => g.padStart(4, "0")).join("");
  return `${Array.from(nibbles, (c) => c)
    .reverse()
    .join(".")}.ip6.arpa`;
}
