// `podrun image pull|import|ls|rm|prune`: the node's image store (DATA_DIR/images) from the
// shell. Pulls use the node's registries.yaml and docker config.json, as the kubelet does.
import { openImageStore } from "./node-runtime.js";
import { PullProgressBar } from "./pull-progress.js";
import { loadNodeKeyring, loadRegistriesConfig } from "./registries.js";
import { parseImageRef, pullWithCredentials } from "../kubelet/index.js";
import path from "node:path";
import { parseArgs } from "node:util";
import { StreamLogger, SystemClock } from "../util/index.js";
import { DEFAULT_DATA_DIR } from "./config.js";

const USAGE = `Usage: podrun image <pull REF… | import FILE|DIR… | ls | rm REF… | prune> [--data-dir DIR]\n`;

/** Runs one image sub-command; returns the exit code. */
export async function imageCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { "data-dir": { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const [sub, ...rest] = positionals;
  const dataDir = path.resolve(values["data-dir"] ?? DEFAULT_DATA_DIR);
  const store = openImageStore(
    dataDir,
    new SystemClock(),
    new StreamLogger({ level: "warn" }),
    await loadRegistriesConfig(path.join(dataDir, "registries.yaml")),
  );
  switch (sub) {
    case "pull": {
      if (rest.length === 0) break;
      const keyring = await loadNodeKeyring(dataDir);
      for (const ref of rest) {
        const parsed = parseImageRef(ref);
        const tty = process.stdout.isTTY;
        const bar = new PullProgressBar(ref);
        let last = 0;
        const draw = (): void => {
          process.stdout.write(`\r${bar.line()}\x1b[K`);
        };
        const id = await pullWithCredentials(keyring.lookup(parsed.repository), (auth) =>
          store.pullImage(parsed.normalized, {
            ...(auth !== undefined ? { auth } : {}),
            onProgress: (p) => {
              bar.update(p);
              // At most ten redraws a second.
              if (tty && Date.now() - last >= 100) {
                last = Date.now();
                draw();
              }
            },
          }),
        );
        if (tty) {
          draw();
          process.stdout.write("\n");
        }
        console.log(`pulled ${parsed.normalized} (${id})`);
      }
      return 0;
    }
    case "import": {
      if (rest.length === 0) break;
      for (const f of rest) {
        for (const id of await store.importImages(path.resolve(f))) {
          const img = await store.imageStatus(id);
          const tags = img?.repoTags.join(", ") ?? "";
          console.log(`imported ${tags === "" ? id : tags}`);
        }
      }
      return 0;
    }
    case "ls": {
      const rows = [["IMAGE", "TAG", "IMAGE ID", "SIZE"]];
      for (const img of await store.listImages()) {
        const id = img.id.replace(/^sha256:/, "").slice(0, 13);
        const size = `${(img.sizeBytes / 1e6).toFixed(1)}MB`;
        const tags = img.repoTags.length > 0 ? img.repoTags : ["<none>:<none>"];
        for (const t of tags) {
          const i = t.lastIndexOf(":");
          rows.push([t.slice(0, i), t.slice(i + 1), id, size]);
        }
      }
      const widths =
        rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
      for (const r of rows)
        console.log(
          r
            .map((cell, c) => cell.padEnd((widths[c] ?? 0) + 3))
            .join("")
            .trimEnd(),
        );
      return 0;
    }
    case "rm": {
      if (rest.length === 0) break;
      for (const ref of rest) {
        await store.removeImage(ref);
        console.log(`deleted ${ref}`);
      }
      return 0;
    }
    case "prune": {
      const removed = await store.prune();
      console.log(`removed ${removed.length} unreferenced layers and blobs`);
      return 0;
    }
    case undefined:
    default:
      break;
  }
  process.stderr.write(USAGE);
  return 2;
}
