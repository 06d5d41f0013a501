import type { EndpointSlice, ResourceClientLike, Service } from "./types.js";
import { Informer } from "../client/index.js";
import { TaskGroup, type Clock, type Logger } from "../util/index.js";
import {
  buildModel,
  buildServiceModel,
  serviceKey,
  sliceServiceKey,
  type ProxyModel,
  type ServicePortModel,
} from "./model.js";
import { diffScript, fullScript } from "./nft.js";
import { NftSession, runNft } from "./nft-session.js";

/** What one applied nft transaction carried (see `onSynced`). */
export interface ProxySyncResult {
  /** The whole table was rewritten (first sync, or recovery after a failed update). */
  isFull: boolean;
  /** Services whose rules were recomputed. */
  services: number;
}

/** Options of {@link ServiceProxy}. */
export interface ServiceProxyOptions {
  client: {
    services(ns?: string): ResourceClientLike<Service>;
    endpointSlices(ns?: string): ResourceClientLike<EndpointSlice>;
  };
  clock: Clock;
  logger: Logger;
  /** nftables table name. @default "podrun" */
  table?: string;
  /** Path of the nft binary. @default "nft" */
  nft?: string;
  /** This node's name: endpoints on it are local for the Local traffic policies. @default "" */
  nodeName?: string;
  /** The pods' address range (see `NftOptions.clusterCIDR`). @default "" */
  clusterCIDR?: string;
  /** Called after each nft transaction the proxy applied (benchmarks, logs). @default none */
  onSynced?: (result: ProxySyncResult) => void;
}

type ResolvedOptions = Required<Omit<ServiceProxyOptions, "onSynced">> &
  Pick<ServiceProxyOptions, "onSynced">;

/**
 * The Service proxy: keeps an nftables table (kube-proxy's nftables model) in step with
 * Services and EndpointSlices. ClusterIP and NodePort traffic is DNAT-ed to a ready backend
 * (a client's sticky one under `sessionAffinity: ClientIP`, else a random one); ports without
 * backends are rejected. The first sync writes the whole table in one transaction; later ones
 * recompute only the Services whose objects changed and send only their changed chains and
 * elements, through one long-lived `nft -i`. Syncs never overlap: changes arriving during a
 * sync are folded into the next one. `run(signal)` deletes the table on exit.
 */
export class ServiceProxy {
  readonly #opts: ResolvedOptions;
  readonly #services: Informer<Service>;
  readonly #slices: Informer<EndpointSlice>;
  readonly #nft: NftSession;
  /** The applied rules by Service key; undefined until the first full sync succeeds. */
  #applied: Map<string, ServicePortModel[]> | undefined;
  /** Services (keys) whose rules may be stale. */
  #pending = new Set<string>();
  #dirty = false;
  #wake: (() => void) | undefined;

  constructor(opts: ServiceProxyOptions) {
    this.#opts = { table: "podrun", nft: "nft", nodeName: "", clusterCIDR: "", ...opts };
    this.#services = new Informer<Service>({
      source: opts.client.services(),
      clock: opts.clock,
      logger: opts.logger,
    });
    this.#slices = new Informer<EndpointSlice>({
      source: opts.client.endpointSlices(),
      clock: opts.clock,
      logger: opts.logger,
    });
    this.#nft = new NftSession(this.#opts.nft);
  }

  /** Applies the pending changes once (the whole table the first time). */
  async sync(): Promise<void> {
    const keys = this.#pending;
    this.#pending = new Set();
    try {
      if (this.#applied === undefined) await this.#syncFull();
      else await this.#syncKeys(this.#applied, keys);
    } catch (err) {
      // A failed update leaves the table in an unknown state: rewrite it whole next time.
      this.#applied = undefined;
      for (const k of keys) this.#pending.add(k);
      throw err;
    }
  }

  async #syncFull(): Promise<void> {
    const opts = { nodeName: this.#opts.nodeName };
    const services = this.#services.list();
    const model = buildModel(services, this.#slices.list(), opts);
    await runNft(this.#opts.nft, fullScript(model, this.#opts));
    const applied = new Map<string, ServicePortModel[]>();
    for (const svc of services) applied.set(serviceKey(svc), []);
    for (const m of model.values()) {
      const key = m.id.split("/").slice(0, 2).join("/");
      applied.get(key)?.push(m);
    }
    this.#applied = applied;
    this.#opts.onSynced?.({ isFull: true, services: services.length });
  }

  async #syncKeys(applied: Map<string, ServicePortModel[]>, keys: Set<string>): Promise<void> {
    if (keys.size === 0) return;
    const slices = this.#slices.list().filter((s) => {
      const k = sliceServiceKey(s);
      return k !== undefined && keys.has(k);
    });
    const prev: ProxyModel = new Map();
    const next: ProxyModel = new Map();
    const nextByKey = new Map<string, ServicePortModel[]>();
    for (const key of keys) {
      for (const m of applied.get(key) ?? []) prev.set(m.id, m);
      const svc = this.#services.get(key);
      const ports =
        svc === undefined ? [] : buildServiceModel(svc, slices, { nodeName: this.#opts.nodeName });
      for (const m of ports) next.set(m.id, m);
      nextByKey.set(key, ports);
    }
    const script = diffScript(prev, next, this.#opts);
    await this.#nft.apply(script);
    for (const [key, ports] of nextByKey) {
      if (this.#services.get(key) === undefined) applied.delete(key);
      else applied.set(key, ports);
    }
    if (script !== "") this.#opts.onSynced?.({ isFull: false, services: keys.size });
  }

  /** Runs until `signal` aborts, then removes the table. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.#opts.logger;
    const tasks = new TaskGroup(log);
    tasks.spawn("services informer", () => this.#services.run(signal));
    tasks.spawn("endpointslices informer", () => this.#slices.run(signal));
    const kick = (key: string | undefined): void => {
      if (key !== undefined) this.#pending.add(key);
      this.#dirty = true;
      this.#wake?.();
    };
    const unsubscribe = [
      this.#services.onChange((ev) => {
        kick(ev.key);
      }),
      this.#slices.onChange((ev) => {
        // A slice may move between Services if its label changes: both are stale.
        const oldKey = ev.old === undefined ? undefined : sliceServiceKey(ev.old);
        if (oldKey !== undefined) this.#pending.add(oldKey);
        kick(sliceServiceKey(ev.obj));
      }),
    ];
    try {
      if ((await this.#services.waitForSync(signal)) && (await this.#slices.waitForSync(signal))) {
        this.#dirty = true;
        while (!signal.aborted) {
          if (!this.#dirty) {
            await new Promise<void>((resolve) => {
              this.#wake = resolve;
              signal.addEventListener(
                "abort",
                () => {
                  resolve();
                },
                { once: true },
              );
            });
            this.#wake = undefined;
            continue;
          }
          this.#dirty = false;
          try {
            await this.sync();
          } catch (err) {
            log.error("proxy sync failed", { err });
            this.#dirty = true;
            await this.#opts.clock.sleep(1000, signal).catch(() => undefined);
          }
        }
      }
    } finally {
      for (const u of unsubscribe) u();
      await tasks.wait();
      await this.#nft.close();
      await runNft(
        this.#opts.nft,
        `add table ip ${this.#opts.table}\ndelete table ip ${this.#opts.table}\n`,
      ).catch((err: unknown) => {
        log.warn("could not remove the proxy table", { err });
      });
    }
  }
}
