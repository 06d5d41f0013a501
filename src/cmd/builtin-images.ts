// Images podrun builds itself from host binaries, so that a machine without registry access
// still runs pods: the pause image from catatonit (never pulled, ARCHITECTURE.md §2) and a
// small busybox image from busybox-static (for the examples, offline).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile, rename, mkdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

const run = promisify(execFile);

/** Image reference of the sandbox image podrun uses (same name as upstream's). */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10";

/** Fixed mtime: rebuilding gives the same digests. */
const MTIME = new Date("2000-01-01T00:00:00Z");

interface Entry {
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  data?: Buffer;
  linkname?: string;
}

function layerTar(entries: Entry[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on("data", (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on("end", () => {
      resolve(Buffer.concat(chunks));
    });
    pack.on("error", reject);
    for (const e of [...entries].sort((a, b) => a.name.localeCompare(b.name))) {
      const header = { name: e.name, mode: e.mode, mtime: MTIME, uid: 0, gid: 0, type: e.type };
      if (e.type === "symlink") pack.entry({ ...header, linkname: e.linkname ?? "" });
      else pack.entry(header, e.data ?? Buffer.alloc(0));
    }
    pack.finalize();
  });
}

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** Writes an OCI archive (a tar of an OCI image layout) holding one single-layer image. */
async function writeOciArchive(
  file: string,
  layer: Buffer,
  config: Record<string, unknown>,
  refs: string[],
): Promise<void> {
  const gz = gzipSync(layer, { level: 6 });
  const blobs = new Map<string, Buffer>();
  blobs.set(sha(gz), gz);
  const cfg = Buffer.from(
    JSON.stringify({
      created: MTIME.toISOString(),
      architecture: "amd64",
      os: "linux",
      config,
      rootfs: { type: "layers", diff_ids: [`sha256:${sha(layer)}`] },
      history: [{ created: MTIME.toISOString(), created_by: "podrun builtin image" }],
    }),
  );
  blobs.set(sha(cfg), cfg);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: `sha256:${sha(cfg)}`,
        size: cfg.length,
      },
      layers: [
        {
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
          digest: `sha256:${sha(gz)}`,
          size: gz.length,
        },
      ],
    }),
  );
  blobs.set(sha(manifest), manifest);
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: refs.map((ref) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${sha(manifest)}`,
      size: manifest.length,
      annotations: {
        "io.containerd.image.name": ref,
        "org.opencontainers.image.ref.name": ref.slice(ref.lastIndexOf(":") + 1),
      },
    })),
  };
  const entries: Entry[] = [
    {
      name: "oci-layout",
      type: "file",
      mode: 0o644,
      data: Buffer.from('{"imageLayoutVersion":"1.0.0"}'),
    },
    { name: "index.json", type: "file", mode: 0o644, data: Buffer.from(JSON.stringify(index)) },
    { name: "blobs/", type: "directory", mode: 0o755 },
    { name: "blobs/sha256/", type: "directory", mode: 0o755 },
    ...[...blobs].map(([hex, data]): Entry => ({
      name: `blobs/sha256/${hex}`,
      type: "file",
      mode: 0o644,
      data,
    })),
  ];
  const archive = await layerTar(entries);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, archive);
  await rename(`${file}.tmp`, file);
}

/** Builds the pause image archive from the host's static catatonit. */
export async function buildPauseImage(
  file: string,
  catatonit = "/usr/bin/catatonit",
): Promise<void> {
  const bin = await readFile(catatonit);
  const layer = await layerTar([{ name: "catatonit", type: "file", mode: 0o755, data: bin }]);
  await writeOciArchive(
    file,
    layer,
    {
      Entrypoint: ["/catatonit", "-P"],
      User: "65535:65535",
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    },
    [PAUSE_IMAGE],
  );
}

/** Builds a busybox image archive (tags 1.28 and latest) from the host's busybox-static. */
export async function buildBusyboxImage(file: string, busybox = "/bin/busybox"): Promise<void> {
  const bin = await readFile(busybox);
  const { stdout } = await run(busybox, ["--list-full"]);
  const entries: Entry[] = [
    { name: "bin/", type: "directory", mode: 0o755 },
    { name: "bin/busybox", type: "file", mode: 0o755, data: bin },
    { name: "etc/", type: "directory", mode: 0o755 },
    {
      name: "etc/passwd",
      type: "file",
      mode: 0o644,
      data: Buffer.from(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
      ),
    },
    {
      name: "etc/group",
      type: "file",
      mode: 0o644,
      data: Buffer.from("root:x:0:\nnobody:x:65534:\n"),
    },
    { name: "root/", type: "directory", mode: 0o700 },
    { name: "tmp/", type: "directory", mode: 0o1777 },
    { name: "usr/", type: "directory", mode: 0o755 },
    { name: "usr/bin/", type: "directory", mode: 0o755 },
    { name: "usr/sbin/", type: "directory", mode: 0o755 },
    { name: "sbin/", type: "directory", mode: 0o755 },
    { name: "var/", type: "directory", mode: 0o755 },
    { name: "home/", type: "directory", mode: 0o755 },
  ];
  for (const applet of stdout.split("\n").filter((l) => l.length > 0)) {
    if (applet === "bin/busybox") continue;
    const depth = applet.split("/").length - 1;
    entries.push({
      name: applet,
      type: "symlink",
      mode: 0o777,
      linkname: `${"../".repeat(depth)}bin/busybox`,
    });
  }
  await writeOciArchive(
    file,
    await layerTar(entries),
    { Cmd: ["sh"], Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
    ["docker.io/library/busybox:1.28", "docker.io/library/busybox:latest"],
  );
}
