/** One media range of an Accept header, with its parameters. */
interface MediaRange {
  type: string;
  params: Record<string, string>;
}

function parseAccept(accept: string | undefined): MediaRange[] {
  if (accept === undefined || accept.trim() === "") return [];
  return accept.split(",").map((part) => {
    const [type = "", ...rest] = part.split(";").map((p) => p.trim());
    const params: Record<string, string> = {};
    for (const p of rest) {
      const i = p.indexOf("=");
      if (i > 0) params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
    }
    return { type: type.toLowerCase(), params };
  });
}

/** Aggregated discovery version chosen for `/api` and `/apis` (KA-DISC-2), or undefined. */
export function negotiateDiscovery(accept: string | undefined): "v2" | "v2beta1" | undefined {
  for (const m of parseAccept(accept)) {
    const p = m.params;
    if (m.type !== "application/json") continue;
    if (p["as"] === undefined && p["g"] === undefined) return undefined; // plain JSON first
    if (p["g"] !== "apidiscovery.k8s.io" || p["as"] !== "APIGroupDiscoveryList") continue;
    if (p["v"] === "v2" || p["v"] === "v2beta1") return p["v"];
  }
  return undefined;
}

/** Content type of an aggregated discovery response. */
export function discoveryContentType(v: "v2" | "v2beta1"): string {
  return `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;
}

/** Table version chosen for a get/list/watch (KA-TBL-1), or undefined for plain objects. */
export function negotiateTable(accept: string | undefined): "v1" | "v1beta1" | undefined {
  for (const m of parseAccept(accept)) {
    const p = m.params;
    if (m.type !== "application/json" && m.type !== "application/vnd.kubernetes.protobuf") {
      continue;
    }
    if (p["as"] !== "Table") {
      if (p["as"] === undefined) return undefined;
      continue;
    }
    if (p["g"] !== "meta.k8s.io") continue;
    if (p["v"] === "v1" || p["v"] === "v1beta1") return p["v"];
  }
  return undefined;
}
