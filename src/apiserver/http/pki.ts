import { createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname, join } from "node:path";
import forge from "node-forge";
import { stringify as stringifyYaml } from "yaml";
import type { Clock } from "../../util/index.js";

/** The cluster's TLS material and admin credentials, as PEM text. */
export interface Pki {
  caCertPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  adminCertPem: string;
  adminKeyPem: string;
  /** Random bearer token of the admin user (system:masters). */
  adminToken: string;
}

/** Options of {@link ensurePki}. */
export interface EnsurePkiOptions {
  /** Files go to `<dataDir>/pki/`. */
  dataDir: string;
  /** Extra IP addresses for the serving certificate (node IPs). @default [] */
  nodeIps?: readonly string[];
  /** Extra DNS names for the serving certificate. @default [] */
  hostnames?: readonly string[];
  clock: Clock;
}

/** Names every serving certificate covers (loopback, the `kubernetes` Service and its DNS names). */
export const DEFAULT_SERVING_NAMES: readonly string[] = [
  "127.0.0.1",
  "localhost",
  "10.96.0.1",
  "kubernetes",
  "kubernetes.default",
  "kubernetes.default.svc",
  "kubernetes.default.svc.cluster.local",
];

const FILES = {
  caCertPem: "ca.crt",
  caKeyPem: "ca.key",
  serverCertPem: "apiserver.crt",
  serverKeyPem: "apiserver.key",
  adminCertPem: "admin.crt",
  adminKeyPem: "admin.key",
  adminToken: "admin.token",
} as const satisfies Record<keyof Pki, string>;

const DAY_MS = 24 * 60 * 60 * 1000;

function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return privateKey.export({ type: "pkcs1", format: "pem" }).toString();
}

function serial(): string {
  // Positive 16-byte serial: clear the top bit so DER does not read it as negative.
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString("hex");
}

interface CertSpec {
  subject: { CN: string; O?: string };
  keyPem: string;
  issuer?: { certPem: string; keyPem: string };
  isCa: boolean;
  serverNames?: readonly string[];
  clientAuth: boolean;
  nowMs: number;
  validDays: number;
}

function makeCert(spec: CertSpec): string {
  const key = forge.pki.privateKeyFromPem(spec.keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(spec.nowMs - 60_000);
  cert.validity.notAfter = new Date(spec.nowMs + spec.validDays * DAY_MS);
  const attrs: forge.pki.CertificateField[] = [{ name: "commonName", value: spec.subject.CN }];
  if (spec.subject.O !== undefined) attrs.push({ name: "organizationName", value: spec.subject.O });
  cert.setSubject(attrs);
  let signingKey = key;
  if (spec.issuer === undefined) {
    cert.setIssuer(attrs);
  } else {
    const issuerCert = forge.pki.certificateFromPem(spec.issuer.certPem);
    cert.setIssuer(issuerCert.subject.attributes);
    signingKey = forge.pki.privateKeyFromPem(spec.issuer.keyPem);
  }
  const extensions: object[] = [{ name: "basicConstraints", cA: spec.isCa, critical: true }];
  if (spec.isCa) {
    extensions.push({
      name: "keyUsage",
      keyCertSign: true,
      cRLSign: true,
      digitalSignature: true,
      critical: true,
    });
    extensions.push({ name: "subjectKeyIdentifier" });
  } else {
    extensions.push({
      name: "keyUsage",
      digitalSignature: true,
      keyEncipherment: true,
      critical: true,
    });
    extensions.push({
      name: "extKeyUsage",
      serverAuth: !spec.clientAuth,
      clientAuth: spec.clientAuth,
    });
  }
  if (spec.serverNames !== undefined) {
    extensions.push({
      name: "subjectAltName",
      altNames: spec.serverNames.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    });
  }
  cert.setExtensions(extensions);
  cert.sign(signingKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** IPs and DNS names in a certificate's subjectAltName. */
export function certificateNames(certPem: string): string[] {
  const cert = forge.pki.certificateFromPem(certPem);
  const ext = cert.getExtension("subjectAltName") as {
    altNames?: { type: number; value?: string; ip?: string }[];
  } | null;
  return (ext?.altNames ?? []).map((a) => a.ip ?? a.value ?? "");
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`read ${path}`, { cause: err });
  }
}

/** Writes atomically (temp file + rename) with owner-only permissions. */
async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

/**
 * Loads the cluster PKI from `<dataDir>/pki/`, generating what is missing on first start: a
 * CA (RSA 2048, 10 years), a serving certificate for {@link DEFAULT_SERVING_NAMES} plus the
 * given node IPs and hostnames, an admin client certificate (CN admin, O system:masters) and a
 * random admin bearer token. Later starts reuse the files; the serving certificate is re-issued
 * (same CA) when it lacks a requested name. Not safe to call concurrently on one directory.
 */
export async function ensurePki(opts: EnsurePkiOptions): Promise<Pki> {
  const dir = join(opts.dataDir, "pki");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const nowMs = opts.clock.now();
  const loaded: Partial<Record<keyof Pki, string>> = {};
  for (const [k, f] of Object.entries(FILES) as [keyof Pki, string][]) {
    const v = await readIfExists(join(dir, f));
    if (v !== undefined) loaded[k] = v;
  }
  const written: Partial<Pki> = {};
  let { caCertPem, caKeyPem } = loaded;
  if (caCertPem === undefined || caKeyPem === undefined) {
    caKeyPem = newKeyPem();
    caCertPem = makeCert({
      subject: { CN: "podrun-ca" },
      keyPem: caKeyPem,
      isCa: true,
      clientAuth: false,
      nowMs,
      validDays: 3650,
    });
    written.caKeyPem = caKeyPem;
    written.caCertPem = caCertPem;
    // A new CA invalidates every certificate issued by the old one.
    delete loaded.serverCertPem;
    delete loaded.adminCertPem;
  }
  const issuer = { certPem: caCertPem, keyPem: caKeyPem };
  const names = [
    ...new Set([...DEFAULT_SERVING_NAMES, ...(opts.nodeIps ?? []), ...(opts.hostnames ?? [])]),
  ];
  let { serverCertPem, serverKeyPem } = loaded;
  const hasAllNames = (pem: string): boolean => {
    const have = new Set(certificateNames(pem));
    return names.every((n) => have.has(n));
  };
  if (serverCertPem === undefined || serverKeyPem === undefined || !hasAllNames(serverCertPem)) {
    serverKeyPem ??= newKeyPem();
    serverCertPem = makeCert({
      subject: { CN: "kube-apiserver" },
      keyPem: serverKeyPem,
      issuer,
      isCa: false,
      serverNames: names,
      clientAuth: false,
      nowMs,
      validDays: 365,
    });
    written.serverKeyPem = serverKeyPem;
    written.serverCertPem = serverCertPem;
  }
  let { adminCertPem, adminKeyPem, adminToken } = loaded;
  if (adminCertPem === undefined || adminKeyPem === undefined) {
    adminKeyPem ??= newKeyPem();
    adminCertPem = makeCert({
      subject: { CN: "admin", O: "system:masters" },
      keyPem: adminKeyPem,
      issuer,
      isCa: false,
      clientAuth: true,
      nowMs,
      validDays: 365,
    });
    written.adminKeyPem = adminKeyPem;
    written.adminCertPem = adminCertPem;
  }
  adminToken = adminToken?.trim();
  if (adminToken === undefined || adminToken === "") {
    adminToken = randomBytes(32).toString("base64url");
    written.adminToken = adminToken;
  }
  for (const [k, v] of Object.entries(written) as [keyof Pki, string][]) {
    await writePrivate(join(dir, FILES[k]), v);
  }
  return {
    caCertPem,
    caKeyPem,
    serverCertPem,
    serverKeyPem,
    adminCertPem,
    adminKeyPem,
    adminToken,
  };
}

/** The service-account signing key pair, as PEM text. */
export interface ServiceAccountKeyPair {
  /** RSA private key (PKCS#1), `<dataDir>/pki/sa.key`. */
  privateKeyPem: string;
  /** Its public key (SPKI), `<dataDir>/pki/sa.pub`. */
  publicKeyPem: string;
}

/**
 * Loads the service-account token signing key from `<dataDir>/pki/sa.key` (+ `sa.pub`),
 * generating an RSA 2048 pair on first start; `sa.pub` is re-derived when missing or stale.
 * Not safe to call concurrently on one directory.
 */
export async function ensureServiceAccountKey(dataDir: string): Promise<ServiceAccountKeyPair> {
  const dir = join(dataDir, "pki");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let privateKeyPem = await readIfExists(join(dir, "sa.key"));
  if (privateKeyPem === undefined) {
    privateKeyPem = newKeyPem();
    await writePrivate(join(dir, "sa.key"), privateKeyPem);
  }
  const publicKeyPem = createPublicKey(privateKeyPem)
    .export({ type: "spki", format: "pem" })
    .toString();
  if ((await readIfExists(join(dir, "sa.pub"))) !== publicKeyPem) {
    await writePrivate(join(dir, "sa.pub"), publicKeyPem);
  }
  return { privateKeyPem, publicKeyPem };
}

/** What {@link writeKubeconfig} writes. */
export interface KubeconfigOptions {
  /** `https://127.0.0.1:6443`. */
  server: string;
  caPem: string;
  token: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Cluster, user and context name. @default "podrun" */
  name?: string;
}

/** The kubeconfig YAML text for `opts`. */
export function kubeconfigYaml(opts: KubeconfigOptions): string {
  const name = opts.name ?? "podrun";
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  const user: Record<string, string> = { token: opts.token };
  if (opts.clientCertPem !== undefined && opts.clientKeyPem !== undefined) {
    user["client-certificate-data"] = b64(opts.clientCertPem);
    user["client-key-data"] = b64(opts.clientKeyPem);
  }
  return stringifyYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name, cluster: { server: opts.server, "certificate-authority-data": b64(opts.caPem) } },
    ],
    users: [{ name: `${name}-admin`, user }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: "default" } }],
    "current-context": name,
    preferences: {},
  });
}

/** Writes a kubeconfig (mode 0600, atomically) to `path`, creating its directory. */
export async function writeKubeconfig(path: string, opts: KubeconfigOptions): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writePrivate(path, kubeconfigYaml(opts));
}
