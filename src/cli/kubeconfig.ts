import { parse } from "yaml";

/** Where the admin kubeconfig lives when neither `--kubeconfig` nor KUBECONFIG is set. */
export const DEFAULT_DATA_DIR = "/var/lib/podrun";

/** The connection settings of one kubeconfig context. */
export interface KubeconfigContext {
  server: string;
  caPem?: string;
  insecureSkipTlsVerify?: boolean;
  token?: string;
  certPem?: string;
  keyPem?: string;
  /** The context's default namespace. @default "default" */
  namespace: string;
}

interface Named<T> {
  name?: string;
  [k: string]: unknown;
  value?: T;
}

/**
 * The path of the kubeconfig to use: the flag, else the first entry of KUBECONFIG, else
 * `<data dir>/admin.kubeconfig` (data dir from PODRUN_DATA_DIR, default /var/lib/podrun).
 */
export function kubeconfigPath(
  flag: string | undefined,
  env: Record<string, string | undefined>,
): string {
  if (flag !== undefined && flag !== "") return flag;
  const fromEnv = env["KUBECONFIG"]?.split(":").find((p) => p !== "");
  if (fromEnv !== undefined) return fromEnv;
  return `${env["PODRUN_DATA_DIR"] ?? DEFAULT_DATA_DIR}/admin.kubeconfig`;
}

function pick(list: unknown, name: string | undefined, field: string): Record<string, unknown> {
  if (!Array.isArray(list)) return {};
  const items = list as Named<unknown>[];
  const found = items.find((x) => x.name === name) ?? (name === undefined ? items[0] : undefined);
  const v = found?.[field];
  return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * Parses kubeconfig YAML and resolves the current (or named) context into connection settings.
 * File references (`certificate-authority`, `client-certificate`, `client-key`, `tokenFile`)
 * are read through `readFile`. Throws Error when the context has no server.
 */
export async function parseKubeconfig(
  text: string,
  readFile: (path: string) => Promise<string>,
  contextName?: string,
): Promise<KubeconfigContext> {
  const doc = (parse(text) ?? {}) as Record<string, unknown>;
  const ctxName = contextName ?? str(doc["current-context"]);
  const ctx = pick(doc["contexts"], ctxName, "context");
  const cluster = pick(doc["clusters"], str(ctx["cluster"]), "cluster");
  const user = pick(doc["users"], str(ctx["user"]), "user");
  const server = str(cluster["server"]);
  if (server === undefined)
    throw new Error(`kubeconfig context ${ctxName ?? "(none)"} has no cluster server`);
  const out: KubeconfigContext = { server, namespace: str(ctx["namespace"]) ?? "default" };
  const b64 = (v: unknown): string | undefined => {
    const s = str(v);
    return s === undefined ? undefined : Buffer.from(s, "base64").toString("utf8");
  };
  const fromFile = async (v: unknown): Promise<string | undefined> => {
    const p = str(v);
    return p === undefined ? undefined : readFile(p);
  };
  const ca =
    b64(cluster["certificate-authority-data"]) ??
    (await fromFile(cluster["certificate-authority"]));
  if (ca !== undefined) out.caPem = ca;
  if (cluster["insecure-skip-tls-verify"] === true) out.insecureSkipTlsVerify = true;
  const token = str(user["token"]) ?? (await fromFile(user["tokenFile"]))?.trim();
  if (token !== undefined) out.token = token;
  const cert = b64(user["client-certificate-data"]) ?? (await fromFile(user["client-certificate"]));
  const key = b64(user["client-key-data"]) ?? (await fromFile(user["client-key"]));
  if (cert !== undefined && key !== undefined) {
    out.certPem = cert;
    out.keyPem = key;
  }
  return out;
}
