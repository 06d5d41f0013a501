// podrun entry point: parses the sub-command and its flags, then hands over.
import { parseArgs } from "node:util";
import path from "node:path";
import { resolveNodeConfig, DEFAULT_DATA_DIR, type Flags } from "./config.js";

const USAGE = `Usage: podrun <command> [flags]

Commands:
  up          run a single-node cluster (API server, scheduler, kubelet) in this process
  reset       remove every container, sandbox, mount and cgroup a cluster made
  kubeconfig  print the path of the admin kubeconfig
  image       import|ls|rm|prune images
  get, describe, apply, delete, logs   a small kubectl for machines without one

Common flags:
  --data-dir DIR   state directory (default ${DEFAULT_DATA_DIR})
  --port N         API server port (default 6443)
`;

const FLAG_NAMES = [
  "data-dir",
  "run-dir",
  "cgroup-root",
  "log-dir",
  "bind-address",
  "port",
  "node-name",
  "node-ip",
  "pod-cidr",
  "service-cidr",
  "cluster-dns",
  "cluster-domain",
  "bridge",
  "runc",
  "conmon",
  "cni-bin-dir",
  "log-level",
  "backoff-initial-ms",
  "backoff-max-ms",
  "watch-history",
  "sync-period-ms",
  "container-log-max-size-bytes",
  "container-log-max-files",
  "registries-config",
  "apply-examples",
] as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "up":
    case "reset":
    case "kubeconfig": {
      const { values } = parseArgs({
        args: rest,
        options: Object.fromEntries(FLAG_NAMES.map((n) => [n, { type: "string" as const }])),
        strict: true,
        allowPositionals: false,
      });
      const flags = values as Flags;
      const config = resolveNodeConfig(flags);
      if (command === "kubeconfig") {
        console.log(path.join(config.dataDir, "admin.kubeconfig"));
        return 0;
      }
      if (command === "reset") {
        const { reset } = await import("./reset.js");
        return reset(config);
      }
      const { up } = await import("./up.js");
      return up(config, { applyExamples: flags["apply-examples"] });
    }
    case "image": {
      const { imageCommand } = await import("./image.js");
      return imageCommand(rest);
    }
    case "get":
    case "describe":
    case "apply":
    case "delete":
    case "logs": {
      const { cliCommand } = await import("./cli.js");
      return cliCommand(argv);
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`podrun: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Every command has finished its work here; nothing left in the loop is worth waiting for.
    process.exit(code);
  },
  (err: unknown) => {
    console.error(`podrun: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof Error && err.cause !== undefined) console.error("  cause:", err.cause);
    process.exitCode = 1;
  },
);
