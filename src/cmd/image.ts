// `podrun image import|ls|rm|prune`: the node's image store (DATA_DIR/images) from the shell.
import { openImageStore } from "./node-runtime.js";
import path from "node:path";
import { parseArgs } from "node:util";
import { StreamLogger, SystemClock } from "../util/index.js";
import { DEFAULT_DATA_DIR } from "./config.js";

const USAGE = `Usage: podrun image <import FILE|DIR… | ls | rm REF… | prune> [--data-dir DIR]\n`;

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
  const store = openImageStore(dataDir, new SystemClock(), new StreamLogger({ level: "warn" }));
  switch (sub) {
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
