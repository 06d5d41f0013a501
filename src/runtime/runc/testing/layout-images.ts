import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeError } from "../../errors.js";
import type { Image, ImageService } from "../../types.js";
import type { LayerSource } from "../runc-runtime.js";
import { runCommand } from "../exec.js";

interface Entry {
  image: Image;
  layerDigests: string[];
  layout: string;
}

/**
 * A test-only image store over OCI layout directories (as written by make-test-images):
 * "pull" only finds images already in the layouts; layers are unpacked with `tar` on first use
 * into `unpackDir/<digest>`. Not safe against hostile tarballs: test images only.
 */
export class LayoutImages implements ImageService, LayerSource {
  readonly #layouts: string[];
  readonly #unpackDir: string;
  readonly #byRef = new Map<string, Entry>();
  readonly #unpacking = new Map<string, Promise<string>>();
  #loaded: Promise<void> | undefined;

  constructor(layouts: string[], unpackDir: string) {
    this.#layouts = layouts;
    this.#unpackDir = unpackDir;
  }

  async #load(): Promise<void> {
    for (const layout of this.#layouts) {
      const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
        manifests: { digest: string; annotations?: Record<string, string> }[];
      };
      for (const m of index.manifests) {
        const manifest = JSON.parse(await readFile(blob(layout, m.digest), "utf8")) as {
          config: { digest: string };
          layers: { digest: string; size: number }[];
        };
        const cfg = JSON.parse(await readFile(blob(layout, manifest.config.digest), "utf8")) as {
          config?: {
            Entrypoint?: string[];
            Cmd?: string[];
            Env?: string[];
            WorkingDir?: string;
            User?: string;
            StopSignal?: string;
            ExposedPorts?: Record<string, unknown>;
          };
        };
        const name = m.annotations?.["io.containerd.image.name"] ?? "";
        const c = cfg.config ?? {};
        const existing = this.#byRef.get(manifest.config.digest);
        const image: Image = existing?.image ?? {
          id: manifest.config.digest,
          repoTags: [],
          repoDigests: [],
          sizeBytes: manifest.layers.reduce((a, l) => a + l.size, 0),
          config: {
            entrypoint: c.Entrypoint ?? [],
            cmd: c.Cmd ?? [],
            env: c.Env ?? [],
            workingDir: c.WorkingDir ?? "",
            user: c.User ?? "",
            stopSignal: c.StopSignal ?? "",
            exposedPorts: Object.keys(c.ExposedPorts ?? {}),
          },
        };
        if (name !== "") image.repoTags.push(name);
        const entry = { image, layerDigests: manifest.layers.map((l) => l.digest), layout };
        this.#byRef.set(manifest.config.digest, entry);
        if (name !== "") this.#byRef.set(name, entry);
      }
    }
  }

  async #find(ref: string): Promise<Entry | undefined> {
    this.#loaded ??= this.#load();
    await this.#loaded;
    let r = ref;
    if (!r.startsWith("sha256:")) {
      if (!r.includes(":", r.lastIndexOf("/"))) r += ":latest";
      if (!r.includes("/")) r = `docker.io/library/${r}`;
    }
    return this.#byRef.get(r);
  }

  async layerPaths(ref: string): Promise<string[]> {
    const e = await this.#find(ref);
    if (e === undefined) throw new RuntimeError("NotFound", `image "${ref}" not found`);
    return Promise.all(e.layerDigests.map((d) => this.#unpack(e.layout, d)));
  }

  #unpack(layout: string, digest: string): Promise<string> {
    let p = this.#unpacking.get(digest);
    if (p === undefined) {
      p = (async () => {
        const dest = join(this.#unpackDir, digest.replace(":", "-"));
        if (existsSync(dest)) return dest;
        const tmp = `${dest}.tmp`;
        await rm(tmp, { recursive: true, force: true });
        await mkdir(tmp, { recursive: true });
        await runCommand("tar", ["-xzf", blob(layout, digest), "-C", tmp]);
        await rename(tmp, dest);
        return dest;
      })();
      this.#unpacking.set(digest, p);
    }
    return p;
  }

  async imageStatus(ref: string): Promise<Image | undefined> {
    return (await this.#find(ref))?.image;
  }

  async pullImage(ref: string): Promise<string> {
    const e = await this.#find(ref);
    if (e === undefined) throw new RuntimeError("NotFound", `image "${ref}" not found`);
    return e.image.id;
  }

  async listImages(): Promise<Image[]> {
    this.#loaded ??= this.#load();
    await this.#loaded;
    return [...new Set([...this.#byRef.values()].map((e) => e.image))];
  }

  removeImage(ref: string): Promise<void> {
    return Promise.reject(new RuntimeError("Failed", `remove of "${ref}" not supported`));
  }

  importImages(path: string): Promise<string[]> {
    return Promise.reject(new RuntimeError("Failed", `import of "${path}" not supported`));
  }
}

function blob(layout: string, digest: string): string {
  return join(layout, "blobs", ...digest.split(":"));
}
