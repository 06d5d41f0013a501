// End-to-end harness: every test cluster is a real `podrun up` process running inside a
// network namespace of its own (entered with `nsenter --net`, not `ip netns exec`, which
// remounts /sys and so hides the cgroup hierarchies) (so it never touches the host's interfaces, routes or
// firewall) with a data dir of its own; kubectl and other clients run inside that namespace.
// `stop()` kills the process, removes every container it made (`podrun reset`), deletes the
// namespace and the data dir.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync, readFileSync, realpathSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Root of the repository. */
export const ROOT = path.resolve(import.meta.dirname, "../..");
const PODRUN = path.join(ROOT, "bin/podrun");

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Runs a command to completion, capturing output; never rejects on a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal === null ? -1 : 128 + signalNumber(signal)),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
    child.stdin.on("error", () => undefined); // the child may exit before reading its input
    child.stdin.end(opts.input);
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return sig === "SIGKILL" ? 9 : sig === "SIGTERM" ? 15 : 1;
}

/** Runs a command and throws with its output when it fails. */
export async function must(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Directory holding kubectl.1.27 … kubectl.1.33. */
export const KUBECTL_DIR = path.dirname(realpathSync("/usr/bin/kubectl"));

/** The test images (busybox, pause, web) built by ../shared/tools/make-test-images, cached. */
export async function testImagesDir(): Promise<string> {
  const dir = path.join(ROOT, ".cache/test-images");
  if (existsSync(path.join(dir, "web.oci.tar"))) return dir;
  // scripts/test.sh builds them up front; a lone test file builds them itself, into a temp
  // dir renamed into place so that concurrent test files never see half-written images.
  const tool = path.resolve(ROOT, "../shared/tools/make-test-images");
  await mkdir(path.dirname(dir), { recursive: true });
  const tmp = await mkdtemp(`${dir}.tmp-`);
  await must(tool, [tmp], { timeoutMs: 300_000 });
  await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  return dir;
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Extra flags for `podrun up`. */
  args?: string[];
  /** Import the test images at start. @default true */
  preloadImages?: boolean;
}

/** A running test cluster. */
export interface Cluster {
  netns: string;
  dataDir: string;
  kubeconfig: string;
  /** Runs kubectl (version `1.NN`, default the dispatcher) inside the cluster's namespace. */
  kubectl(args: string[], opts?: RunOptions & { version?: string }): Promise<RunResult>;
  /** Like kubectl, but throws on a non-zero exit and returns stdout. */
  k(args: string[], opts?: RunOptions & { version?: string }): Promise<string>;
  /** Runs any command inside the cluster's network namespace. */
  inNetns(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Waits until `jsonpath` of `resource` (`pod/x`, or `pod/x -n ns`) equals `want` (polls kubectl). */
  waitFor(
    resource: string,
    jsonpath: string,
    want: string | RegExp,
    timeoutMs?: number,
  ): Promise<string>;
  /** Kills the podrun process with `signal` and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts podrun again on the same data dir (after kill). */
  restart(): Promise<void>;
  /** The podrun process log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `podrun up` in a fresh network namespace and data dir and waits until it serves. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const id = randomBytes(4).toString("hex");
  const netns = `podrun-e2e-${id}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), "podrun-e2e-"));
  const logPath = path.join(dataDir, "podrun.log");
  const kubeconfig = path.join(dataDir, "admin.kubeconfig");
  await must("ip", ["netns", "add", netns]);
  await must("ip", ["-n", netns, "link", "set", "lo", "up"]);
  if (opts.preloadImages ?? true) {
    const images = await testImagesDir();
    const preload = path.join(dataDir, "images/preload");
    await mkdir(preload, { recursive: true });
    for (const f of await readdir(images)) {
      if (f.endsWith(".oci.tar")) await copyFile(path.join(images, f), path.join(preload, f));
    }
  }

  let proc: ChildProcess | undefined;
  const startProc = (): void => {
    const fd = openSync(logPath, "a");
    proc = spawn(
      "nsenter",
      [`--net=/run/netns/${netns}`, PODRUN, "up", "--data-dir", dataDir, ...(opts.args ?? [])],
      { stdio: ["ignore", fd, fd] },
    );
    closeSync(fd);
  };
  const exited = (): Promise<void> =>
    new Promise((resolve) => {
      if (proc?.exitCode !== null || proc.signalCode !== null) {
        resolve();
        return;
      }
      proc.once("exit", () => {
        resolve();
      });
    });

  const inNetns = (cmd: string, args: string[], o?: RunOptions): Promise<RunResult> =>
    run("nsenter", [`--net=/run/netns/${netns}`, cmd, ...args], o);
  const kubectl = (
    args: string[],
    o: RunOptions & { version?: string } = {},
  ): Promise<RunResult> => {
    const bin =
      o.version === undefined ? "/usr/bin/kubectl" : path.join(KUBECTL_DIR, `kubectl.${o.version}`);
    return inNetns(bin, ["--kubeconfig", kubeconfig, ...args], o);
  };
  const k = async (args: string[], o: RunOptions & { version?: string } = {}): Promise<string> => {
    const r = await kubectl(args, o);
    if (r.code !== 0)
      throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const waitReady = async (): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc?.exitCode !== null && proc?.exitCode !== undefined) {
        throw new Error(`podrun exited ${proc.exitCode}:\n${readFileSync(logPath, "utf8")}`);
      }
      if (existsSync(kubeconfig)) {
        const r = await kubectl(["get", "nodes", "-o", "name"], { timeoutMs: 10_000 });
        if (r.code === 0 && r.stdout.includes("node/")) return;
      }
      if (Date.now() > deadline)
        throw new Error(`podrun did not become ready:\n${readFileSync(logPath, "utf8")}`);
      await sleep(100);
    }
  };

  startProc();
  const cluster: Cluster = {
    netns,
    dataDir,
    kubeconfig,
    kubectl,
    k,
    inNetns,
    async waitFor(resource, jsonpath, want, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last = "";
      for (;;) {
        const r = await kubectl(["get", ...resource.split(" "), "-o", `jsonpath=${jsonpath}`]);
        last = r.code === 0 ? r.stdout : r.stderr;
        if (r.code === 0 && (typeof want === "string" ? last === want : want.test(last)))
          return last;
        if (Date.now() > deadline) {
          const described = await kubectl(["describe", ...resource.split(" ")]);
          const tail = cluster.log().split("\n").slice(-40).join("\n");
          throw new Error(
            `timed out waiting for ${resource} ${jsonpath} = ${String(want)}; last: ${last}\n` +
              `${described.stdout}${described.stderr}\n--- podrun log (tail) ---\n${tail}`,
          );
        }
        await sleep(100);
      }
    },
    async kill(signal = "SIGKILL") {
      proc?.kill(signal);
      await exited();
    },
    async restart() {
      startProc();
      await waitReady();
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : ""),
    async stop() {
      proc?.kill("SIGTERM");
      const timer = setTimeout(() => proc?.kill("SIGKILL"), 10_000);
      await exited();
      clearTimeout(timer);
      // Every container, mount, cgroup and CNI allocation the cluster made.
      const reset = await inNetns(PODRUN, ["reset", "--data-dir", dataDir], { timeoutMs: 60_000 });
      await run("ip", ["netns", "del", netns]);
      if (reset.code !== 0) throw new Error(`podrun reset failed: ${reset.stderr}`);
      // Never rm -rf through a mount (a hostPath bind would take host files with it).
      const left = readFileSync("/proc/mounts", "utf8")
        .split("\n")
        .filter((l) => l.split(" ")[1]?.startsWith(dataDir + "/"));
      if (left.length > 0) throw new Error(`mounts left under ${dataDir}:\n${left.join("\n")}`);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await waitReady();
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
  return cluster;
}

/**
 * Calls `fn` every `intervalMs` until it returns something other than undefined, and returns
 * that; throws after `timeoutMs`, with the last error `fn` threw (if any) in the message.
 */
export async function poll<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e instanceof Error ? e : new Error(String(e));
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last === undefined ? "" : `: ${last.message}`}`,
      );
    await sleep(intervalMs);
  }
}
