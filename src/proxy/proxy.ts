import { spawn } from "node:child_process";
import type { EndpointSlice, ResourceClientLike, Service } from "./types.js";
import { Informer } from "../client/index.js";
import { TaskGroup, type Clock, type Logger } from "../util/index.js";
import { buildModel, type ProxyModel } from "./model.js";
import { diffScript, fullScript } from "./nft.js";

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
}

/** Runs `nft -f -` with `script`; rejects with nft's stderr on failure. */
export function runNft(nft: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(nft, ["-f", "-"], { stdio: ["pipe", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else
        reject(new Error(`nft -f exited ${code ?? "?"}: ${Buffer.concat(err).toString().trim()}`));
    });
    child.stdin.end(script);
  });
}

/**
 * The Service proxy: keeps an nftables table (kube-proxy's nftables model) in step with
 * Services and EndpointSlices. ClusterIP and NodePort traffic is DNAT-ed to a random ready
 * backend; ports without backends are rejected. The first sync writes the whole table in one
 * transaction, later ones only the service ports that changed. Syncs never overlap: changes
 * arriving during a sync are folded into the next one. `run(signal)` deletes the table on exit.
 */
export class ServiceProxy {
  readonly #opts: Required<ServiceProxyOptions>;
  readonly #services: Informer<Service>;
  readonly #slices: Informer<EndpointSlice>;
  #applied: ProxyModel | undefined;
  #dirty = false;
  #wake: (() => void) | undefined;

  constructor(opts: ServiceProxyOptions) {
    this.#opts = { table: "podrun", nft: "nft", ...opts };
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
  }

  /** Builds and applies the rules once (also used by benchmarks). */
  async sync(): Promise<void> {
    const next = buildModel(this.#services.list(), this.#slices.list());
    const script =
      this.#applied === undefined
        ? fullScript(next, this.#opts)
        : diffScript(this.#applied, next, this.#opts);
    if (script === "") return;
    try {
      await runNft(this.#opts.nft, script);
      this.#applied = next;
    } catch (err) {
      // A failed incremental update leaves the table in an unknown state: rewrite it whole.
      this.#applied = undefined;
      throw err;
    }
  }

  /** Runs until `signal` aborts, then removes the table. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.#opts.logger;
    const tasks = new TaskGroup(log);
    tasks.spawn("services informer", () => this.#services.run(signal));
    tasks.spawn("endpointslices informer", () => this.#slices.run(signal));
    const kick = (): void => {
      this.#dirty = true;
      this.#wake?.();
    };
    const unsubscribe = [this.#services.onChange(kick), this.#slices.onChange(kick)];
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
      await runNft(
        this.#opts.nft,
        `add table ip ${this.#opts.table}\ndelete table ip ${this.#opts.table}\n`,
      ).catch((err: unknown) => {
        log.warn("could not remove the proxy table", { err });
      });
    }
  }
}
