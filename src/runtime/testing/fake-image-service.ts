import { createHash } from "node:crypto";
import { RuntimeError } from "../errors.js";
import type {
  AuthConfig,
  CallOptions,
  Image,
  ImageConfig,
  ImageService,
  PullProgress,
} from "../types.js";
import type { RecordedCall } from "./fake-runtime.js";

/** Names of the ImageService methods, for `failNext`. */
export type ImageMethod = keyof ImageService;

/** Image fields a test may set when adding an image. */
export interface FakeImageSpec {
  config?: Partial<ImageConfig>;
  sizeBytes?: number;
}

const EMPTY_CONFIG: ImageConfig = {
  entrypoint: [],
  cmd: ["sh"],
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  workingDir: "",
  user: "",
  stopSignal: "",
  exposedPorts: [],
};

/**
 * An in-memory ImageService for unit tests. Images are either local (`addImage`) or only in a
 * fake "registry" (`addRemote`), from which `pullImage` copies them. Pulling a reference the
 * registry does not have fails with RuntimeError "NotFound"; `failNext` makes the next call of
 * a method throw a chosen error. References are normalized like the real store
 * (`busybox` → `docker.io/library/busybox:latest`). Records every call.
 */
export class FakeImageService implements ImageService {
  readonly #local = new Map<string, Image>();
  readonly #remote = new Map<string, Image>();
  readonly #failures = new Map<string, Error[]>();
  /** Every call made, in order. */
  readonly calls: RecordedCall[] = [];

  /** Makes the next call of `method` throw `err`. */
  failNext(method: ImageMethod, err: Error): void {
    const q = this.#failures.get(method) ?? [];
    q.push(err);
    this.#failures.set(method, q);
  }

  /** References pulled so far (normalized), in order. */
  get pulls(): string[] {
    return this.calls
      .filter((c) => c.method === "pullImage")
      .map((c) => normalizeRef(String(c.args[0])));
  }

  /** Adds an image to the local store and returns it. */
  addImage(ref: string, spec: FakeImageSpec = {}): Image {
    const img = makeImage(ref, spec);
    this.#local.set(img.id, img);
    return img;
  }

  /** Makes `ref` pullable from the fake registry. */
  addRemote(ref: string, spec: FakeImageSpec = {}): Image {
    const img = makeImage(ref, spec);
    this.#remote.set(normalizeRef(ref), img);
    return img;
  }

  pullImage(
    ref: string,
    opts?: CallOptions & { auth?: AuthConfig; onProgress?: (p: PullProgress) => void },
  ): Promise<string> {
    return this.#call("pullImage", [ref, opts], () => {
      const name = normalizeRef(ref);
      const img = this.#remote.get(name);
      if (img === undefined)
        throw new RuntimeError(
          "NotFound",
          `failed to resolve reference "${name}": ${name}: not found`,
        );
      opts?.onProgress?.({ layer: img.id, currentBytes: img.sizeBytes, totalBytes: img.sizeBytes });
      const existing = this.#local.get(img.id);
      if (existing !== undefined) {
        if (!existing.repoTags.includes(name)) existing.repoTags.push(name);
      } else {
        this.#local.set(img.id, structuredClone(img));
      }
      return img.id;
    });
  }

  imageStatus(ref: string, opts?: CallOptions): Promise<Image | undefined> {
    return this.#call("imageStatus", [ref, opts], () => {
      const img = this.#find(ref);
      return img === undefined ? undefined : structuredClone(img);
    });
  }

  listImages(opts?: CallOptions): Promise<Image[]> {
    return this.#call("listImages", [opts], () =>
      [...this.#local.values()].map((i) => structuredClone(i)),
    );
  }

  removeImage(ref: string, opts?: CallOptions): Promise<void> {
    return this.#call("removeImage", [ref, opts], () => {
      const img = this.#find(ref);
      if (img === undefined) throw new RuntimeError("NotFound", `image "${ref}" not found`);
      this.#local.delete(img.id);
    });
  }

  importImages(path: string, opts?: CallOptions): Promise<string[]> {
    return this.#call("importImages", [path, opts], () => {
      throw new RuntimeError("Failed", `import ${path}: not supported by FakeImageService`);
    });
  }

  #find(ref: string): Image | undefined {
    if (ref.startsWith("sha256:")) return this.#local.get(ref);
    const name = normalizeRef(ref);
    for (const img of this.#local.values())
      if (img.repoTags.includes(name) || img.repoDigests.includes(name)) return img;
    return undefined;
  }

  #call<T>(method: ImageMethod, args: unknown[], fn: () => T): Promise<T> {
    this.calls.push({ method, args });
    return Promise.resolve().then(() => {
      const q = this.#failures.get(method);
      const err = q?.shift();
      if (q?.length === 0) this.#failures.delete(method);
      if (err !== undefined) throw err;
      return fn();
    });
  }
}

function makeImage(ref: string, spec: FakeImageSpec): Image {
  const name = normalizeRef(ref);
  const id = `sha256:${createHash("sha256").update(`config:${name}`).digest("hex")}`;
  const digest = createHash("sha256").update(`manifest:${name}`).digest("hex");
  return {
    id,
    repoTags: [name],
    repoDigests: [`${repoOf(name)}@sha256:${digest}`],
    sizeBytes: spec.sizeBytes ?? 1_000_000,
    config: { ...EMPTY_CONFIG, ...spec.config },
  };
}

function repoOf(name: string): string {
  const at = name.indexOf("@");
  const base = at >= 0 ? name.slice(0, at) : name;
  const slash = base.lastIndexOf("/");
  const colon = base.lastIndexOf(":");
  return colon > slash ? base.slice(0, colon) : base;
}

/** Docker-style normalization: `busybox` → `docker.io/library/busybox:latest`. */
function normalizeRef(ref: string): string {
  let name = ref;
  const first = name.split("/")[0] ?? "";
  const hasHost =
    name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  if (!hasHost) name = `docker.io/${name.includes("/") ? name : `library/${name}`}`;
  const slash = name.lastIndexOf("/");
  if (!name.includes("@") && !name.slice(slash).includes(":")) name += ":latest";
  return name;
}
