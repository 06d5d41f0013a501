/** Runs Debian's `docker-registry` (distribution 2.x) for tests, on 127.0.0.1 and a free port. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SystemClock } from "../../../util/index.js";
import { run } from "./test-images.js";

/** A running registry; `stop()` kills it by PID and removes its storage. */
export interface RunningRegistry {
  host: string;
  /** Filesystem storage root (`docker/registry/v2/...` below it). */
  storage: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) =>
    srv.close(() => {
      resolve();
    }),
  );
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

/** A bcrypt htpasswd line, made with python3's crypt module (apache2-utils is not installed). */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const hash = await run("python3", [
    "-W",
    "ignore",
    "-c",
    "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<4)))",
    password,
  ]);
  return `${user}:${hash.trim()}\n`;
}

/** Starts a registry; with `htpasswd`, requests need basic auth. Waits until it answers. */
export async function startDockerRegistry(
  opts: { htpasswd?: string } = {},
): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "podrun-registry-"));
  const storage = join(dir, "storage");
  await mkdir(storage);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let auth = "";
  if (opts.htpasswd !== undefined) {
    await writeFile(join(dir, "htpasswd"), opts.htpasswd);
    auth = `auth:\n  htpasswd:\n    realm: podrun-test\n    path: ${join(dir, "htpasswd")}\n`;
  }
  const config = [
    "version: 0.1",
    "log:\n  level: error",
    `storage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true`,
    `http:\n  addr: ${host}`,
    auth,
  ].join("\n");
  await writeFile(join(dir, "config.yml"), config);
  const child: ChildProcess = spawn(
    "/usr/bin/docker-registry",
    ["serve", join(dir, "config.yml")],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const clock = new SystemClock();
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://${host}/v2/`);
      await res.body?.cancel();
      break;
    } catch (err) {
      if (i > 100 || child.exitCode !== null) {
        await stop();
        throw new Error(`docker-registry did not start: ${stderr}`, { cause: err });
      }
      await clock.sleep(50);
    }
  }
  return { host, storage, stop };
}

/** Pushes tag `tag` of the OCI layout `layout` to `docker://<host>/<repo>:<tag>` with skopeo. */
export async function pushImage(
  layout: string,
  tag: string,
  host: string,
  repo: string,
  creds?: string,
): Promise<void> {
  await run("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    ...(creds === undefined ? [] : ["--dest-creds", creds]),
    `oci:${layout}:${tag}`,
    `docker://${host}/${repo}:${tag}`,
  ]);
}
