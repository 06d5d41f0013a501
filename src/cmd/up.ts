// `podrun up`: the whole single-node cluster in this process — storage, API server (HTTPS),
// scheduler, controllers, kubelet over conmon + runc, Service proxy and cluster DNS. One
// AbortController owns everything; SIGINT/SIGTERM abort it and every component's run()
// is awaited before the process exits. Containers keep running (conmon holds them).
import { openImageStore, openRuntime } from "./node-runtime.js";
import { loadNodeKeyring, loadRegistriesConfig } from "./registries.js";
import { setMaxListeners } from "node:events";
import { mkdir, readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import {
  apiAdmission,
  isNotFound,
  type Endpoints,
  type EndpointSlice,
  type KubeObject,
  type Service,
} from "../api/index.js";
import { ApiServer, RESOURCES } from "../apiserver/index.js";
import {
  HttpsApiServer,
  RequestAuthenticator,
  ServiceAccountTokenVerifier,
  StaticTokenVerifier,
  ensurePki,
  ensureServiceAccountKey,
  writeKubeconfig,
} from "../apiserver/http/index.js";
import {
  createStreamingUpgradeHandler,
  type StreamingUpgradeHandler,
} from "../apiserver/streaming/index.js";
import { RbacAuthorizer, StorePolicySource, withRbacValidation } from "../apiserver/rbac/index.js";
import { ensureBootstrapPolicy } from "./rbac-policy.js";
import { Client, HandlerTransport, Informer } from "../client/index.js";
import { EndpointsController, RootCaPublisher } from "../controllers/index.js";
import { ClusterZone, DnsServer } from "../dns/index.js";
import { Kubelet, ProcNodeStatsReader, StatsProvider } from "../kubelet/index.js";
import { ServiceProxy } from "../proxy/index.js";
import { Scheduler } from "../scheduler/index.js";
import { SqliteStore } from "../storage/index.js";
import { StreamLogger, SystemClock, TaskGroup, type Logger } from "../util/index.js";
import type { NodeConfig } from "./config.js";
import { ensureBridge, ensureServiceRoute } from "./host-network.js";
import { NodeStreamBackend } from "./streaming.js";
import { ensureExampleImage, ensureNodeImages } from "./images-setup.js";

/** Runs the whole single-node cluster in this process until SIGINT/SIGTERM. */
export async function up(
  config: NodeConfig,
  opts: { applyExamples: string | undefined },
): Promise<number> {
  const logger = new StreamLogger({ level: config.logLevel });
  const clock = new SystemClock();
  const ac = new AbortController();
  const signal = ac.signal;
  // Every component listens on this one signal; the default cap of 10 listeners is for leaks.
  setMaxListeners(0, signal);
  const stop = (): void => {
    logger.info("shutting down");
    ac.abort();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);

  const { dataDir } = config;
  for (const d of [dataDir, config.logDir, config.runDir]) await mkdir(d, { recursive: true });

  // Step 1: host network (bridge + gateway) so DNS and the API can listen for pods.
  const gateway = await ensureBridge(config.bridgeName, config.podCIDR);
  await ensureServiceRoute(config.bridgeName, config.serviceCIDR, gateway);

  // Step 2: storage, images, runtime.
  const store = new SqliteStore(path.join(dataDir, "state.db"), {
    historyLimit: config.watchHistory,
  });
  const images = openImageStore(
    dataDir,
    clock,
    logger.with({ component: "images" }),
    await loadRegistriesConfig(config.registriesConfig),
  );
  await ensureNodeImages(images, dataDir, logger);
  const runtime = openRuntime(config, images, clock, logger.with({ component: "runtime" }));

  // Step 3: the API server, in-process client, HTTPS endpoints and credentials.
  const kubeletRef: { current?: Kubelet } = {};
  // The streaming handler needs the client, which needs the API server: bound below.
  const streamingRef: { current?: StreamingUpgradeHandler } = {};
  const saKey = await ensureServiceAccountKey(dataDir);
  // Usage figures for metrics.k8s.io (kubectl top) and the kubelet's /metrics families.
  const stats = new StatsProvider({
    nodeName: config.nodeName,
    runtime,
    node: new ProcNodeStatsReader(),
    clock,
    logger: logger.with({ component: "stats" }),
  });
  // RBAC over the stored policy; the admin (system:masters) and in-process components (no
  // HTTP, so never asked) keep full access.
  const authorizer = new RbacAuthorizer({ source: new StorePolicySource(store) });
  const apiServer = new ApiServer({
    store,
    clock,
    logger: logger.with({ component: "apiserver" }),
    admission: withRbacValidation(apiAdmission),
    authorizer,
    nodeConnector: {
      logs: (pod, o, sig) => {
        if (kubeletRef.current === undefined) throw new Error("kubelet not started");
        return kubeletRef.current.logs(pod, o, sig);
      },
    },
    securePort: config.port,
    serverAddress: `${gateway}:${config.port}`,
    serviceAccountKeyPem: saKey.privateKeyPem,
    metricsProvider: stats,
    prometheusSources: [
      stats,
      { prometheusText: () => streamingRef.current?.prometheusText() ?? Promise.resolve("") },
    ],
  });
  const client = new Client(new HandlerTransport(apiServer));
  const pki = await ensurePki({ dataDir, nodeIps: [config.nodeIP, gateway], clock });
  const authenticator = new RequestAuthenticator({
    tokenVerifiers: [
      new StaticTokenVerifier({
        [pki.adminToken]: {
          username: "kubernetes-admin",
          groups: ["system:masters", "system:authenticated"],
        },
      }),
      new ServiceAccountTokenVerifier({
        publicKeyPem: saKey.publicKeyPem,
        clock,
        lookup: {
          serviceAccountUid: (ns, name) => uidOf(() => client.serviceAccounts(ns).get(name)),
          podUid: (ns, name) => uidOf(() => client.pods(ns).get(name)),
          secretUid: (ns, name) => uidOf(() => client.secrets(ns).get(name)),
        },
      }),
    ],
  });
  const tls = { certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, caPem: pki.caCertPem };
  // Clients on the node use the bind address; pods reach the API through the bridge gateway.
  const hosts = [...new Set([config.bindAddress, gateway])];
  const streaming = createStreamingUpgradeHandler(
    new NodeStreamBackend({ client, runtime }),
    logger.with({ component: "streaming" }),
  );
  streamingRef.current = streaming;
  const servers = hosts.map(
    (host) =>
      new HttpsApiServer({
        handler: apiServer,
        tls,
        authenticator,
        host,
        port: config.port,
        logger: logger.with({ component: "https" }),
        onUpgrade: streaming,
        authorizer,
      }),
  );

  // System namespaces, the kubernetes Service and default ServiceAccounts exist before anyone asks.
  await apiServer.bootstrap();
  await ensureBootstrapPolicy(client, logger.with({ component: "rbac" }));
  const tasks = new TaskGroup(logger);
  tasks.spawn("apiserver", () => apiServer.run(signal));
  for (const s of servers) tasks.spawn("https", () => s.run(signal));
  await Promise.all(servers.map((s) => s.ready()));
  await writeKubeconfig(path.join(dataDir, "admin.kubeconfig"), {
    server: `https://${config.bindAddress === "0.0.0.0" ? "127.0.0.1" : config.bindAddress}:${config.port}`,
    caPem: pki.caCertPem,
    token: pki.adminToken,
    clientCertPem: pki.adminCertPem,
    clientKeyPem: pki.adminKeyPem,
  });
  logger.info("API server ready", {
    addresses: hosts.map((h) => `https://${h}:${config.port}`),
    kubeconfig: path.join(dataDir, "admin.kubeconfig"),
  });

  // Step 4: control loops and the node agent.
  const kubelet = new Kubelet({
    nodeName: config.nodeName,
    client,
    runtime,
    images,
    clock,
    logger: logger.with({ component: "kubelet" }),
    nodeKeyring: await loadNodeKeyring(dataDir),
    config: {
      dataDir,
      logRoot: config.logDir,
      clusterDomain: config.clusterDomain,
      clusterDNS: [config.clusterDNS],
      podCIDR: config.podCIDR,
      nodeIP: config.nodeIP,
      cgroupRoot: config.cgroupRoot,
      backoffInitialMs: config.backoffInitialMs,
      backoffMaxMs: config.backoffMaxMs,
      syncPeriodMs: config.syncPeriodMs,
      containerLogMaxSizeBytes: config.containerLogMaxSizeBytes,
      containerLogMaxFiles: config.containerLogMaxFiles,
      hostResolvConf: await readFile("/etc/resolv.conf", "utf8").catch(() => ""),
      hostHosts: await readFile("/etc/hosts", "utf8").catch(() => ""),
    },
  });
  kubeletRef.current = kubelet;
  tasks.spawn("kubelet", () => kubelet.run(signal));
  tasks.spawn("stats", () => stats.run(signal));
  tasks.spawn("scheduler", () =>
    new Scheduler({ client, clock, logger: logger.with({ component: "scheduler" }) }).run(signal),
  );
  tasks.spawn("endpoints controller", () =>
    new EndpointsController({ client, clock, logger }).run(signal),
  );
  tasks.spawn("root-ca publisher", () =>
    new RootCaPublisher({ client, caPem: pki.caCertPem, clock, logger }).run(signal),
  );
  tasks.spawn("proxy", () =>
    new ServiceProxy({
      client,
      clock,
      logger: logger.with({ component: "proxy" }),
      nodeName: config.nodeName,
      clusterCIDR: config.podCIDR,
    }).run(signal),
  );
  tasks.spawn("dns", () => runClusterDns(client, gateway, config, logger, signal));
  tasks.spawn("cluster services", () => ensureClusterServices(client, gateway, config));
  if (opts.applyExamples !== undefined) {
    const dir = opts.applyExamples;
    tasks.spawn("examples", async () => {
      await ensureExampleImage(images, dataDir, "docker.io/library/busybox:1.28", logger);
      await applyManifests(client, dir, logger);
    });
  }

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        "abort",
        () => {
          resolve();
        },
        { once: true },
      );
  });
  await tasks.wait();
  // Sessions end when their clients go away or the servers close their sockets.
  await streaming.wait();
  await runtime.close();
  await store.close();
  logger.info("stopped");
  return 0;
}

/** The uid of the object `get` reads, or undefined when it does not exist. */
async function uidOf(get: () => Promise<KubeObject>): Promise<string | undefined> {
  try {
    return (await get()).metadata.uid;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Cluster DNS on the bridge gateway, fed by Service and EndpointSlice informers. */
async function runClusterDns(
  client: Client,
  gateway: string,
  config: NodeConfig,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const clock = new SystemClock();
  const services = new Informer<Service>({ source: client.services(), clock, logger });
  const slices = new Informer({ source: client.endpointSlices(), clock, logger });
  const zone = new ClusterZone({ clusterDomain: config.clusterDomain });
  const refresh = (): void => {
    zone.update(services.list(), slices.list());
  };
  services.onChange(refresh);
  slices.onChange(refresh);
  const resolv = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
  const upstreams = [...resolv.matchAll(/^nameserver\s+(\S+)/gm)]
    .map((m) => m[1] ?? "")
    .filter((s) => s !== "" && !s.startsWith("127."));
  const server = new DnsServer({
    zone,
    logger: logger.with({ component: "dns" }),
    listen: [{ host: gateway, port: 53 }],
    upstreams,
  });
  await Promise.all([services.run(signal), slices.run(signal), server.run(signal)]);
}

/**
 * The Services every cluster has: `kube-dns` in kube-system on the cluster DNS address, and
 * Endpoints for it (podrun's DNS on the gateway) and for `kubernetes` (the API server on the
 * gateway), so the proxy sends pods' traffic for those virtual IPs to this process.
 */
async function ensureClusterServices(
  client: Client,
  gateway: string,
  config: NodeConfig,
): Promise<void> {
  const opts = { fieldManager: "podrun", force: true } as const;
  const dns: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "kube-dns",
      namespace: "kube-system",
      labels: { "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS" },
    },
    spec: {
      clusterIP: config.clusterDNS,
      ports: [
        { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
      ],
    },
  };
  await client.services("kube-system").patch("kube-dns", "apply", dns, opts);
  const dnsEp: Endpoints = {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: { name: "kube-dns", namespace: "kube-system" },
    subsets: [
      {
        addresses: [{ ip: gateway }],
        ports: [
          { name: "dns", port: 53, protocol: "UDP" },
          { name: "dns-tcp", port: 53, protocol: "TCP" },
        ],
      },
    ],
  };
  await client.endpoints("kube-system").patch("kube-dns", "apply", dnsEp, opts);
  const apiEp: Endpoints = {
    apiVersion: "v1",
    kind: "Endpoints",
    // As upstream's API server: its Endpoints opt out of mirroring and it writes the
    // EndpointSlice `kubernetes` itself.
    metadata: {
      name: "kubernetes",
      namespace: "default",
      labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
    },
    subsets: [
      {
        addresses: [{ ip: gateway }],
        ports: [{ name: "https", port: config.port, protocol: "TCP" }],
      },
    ],
  };
  await client.endpoints("default").patch("kubernetes", "apply", apiEp, opts);
  const apiSlice: EndpointSlice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "kubernetes",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "kubernetes" },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: [gateway], conditions: { ready: true } }],
    ports: [{ name: "https", port: config.port, protocol: "TCP" }],
  };
  await client.endpointSlices("default").patch("kubernetes", "apply", apiSlice, opts);
}

/** Server-side applies every manifest (`*.yaml`, `*.yml`, `*.json`) in `dir`, in name order. */
export async function applyManifests(client: Client, dir: string, logger: Logger): Promise<void> {
  for (const f of (await readdir(dir)).filter((n) => /\.(ya?ml)$/.test(n)).sort()) {
    const docs = parseAllDocuments(await readFile(path.join(dir, f), "utf8"));
    for (const doc of docs) {
      const obj = doc.toJS() as KubeObject | null;
      if (obj === null) continue;
      const [group = "", version = "v1"] = (obj.apiVersion ?? "v1").includes("/")
        ? (obj.apiVersion ?? "").split("/")
        : ["", obj.apiVersion ?? "v1"];
      const info = RESOURCES.find(
        (r) => r.kind === obj.kind && r.group === group && r.version === version,
      );
      if (info === undefined) {
        logger.warn("example skipped: unknown kind", { file: f, kind: obj.kind });
        continue;
      }
      const ns = info.namespaced ? (obj.metadata.namespace ?? "default") : undefined;
      await client
        .resource<KubeObject>(
          { group, version, resource: info.resource, namespaced: info.namespaced },
          ns,
        )
        .patch(obj.metadata.name ?? "", "apply", obj, { fieldManager: "podrun", force: true });
      logger.info("example applied", { file: f, kind: obj.kind, name: obj.metadata.name });
    }
  }
}
