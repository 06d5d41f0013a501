/**
 * A small OCI distribution server for tests: serves one OCI layout over HTTP with bearer-token
 * auth (realm on the same server), wrapping the image in a multi-platform index, and records
 * every request.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** A running fake registry. */
export interface FakeRegistry {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** Request log: method and path (with query) of every request. */
  requests: string[];
  /** The multi-platform index served for `manifests/<tag>`. */
  indexDigest: string;
  close(): Promise<void>;
}

function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/**
 * Serves `<layout>` under repository `repo`: `manifests/<tag>` returns a Docker manifest list
 * with an arm64 decoy (pointing at a missing manifest) and the real linux/amd64 manifest.
 * Every /v2 request needs `Authorization: Bearer <token>`; `GET /token` hands out the token for
 * basic credentials `user:pass` only.
 */
export async function startFakeRegistry(opts: {
  layout: string;
  repo: string;
  tag: string;
  user: string;
  password: string;
}): Promise<FakeRegistry> {
  const index = JSON.parse(await readFile(join(opts.layout, "index.json"), "utf8")) as {
    manifests: { digest: string; size: number }[];
  };
  const real = index.manifests[0];
  if (real === undefined) throw new Error("layout has no manifests");
  const list = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
    manifests: [
      {
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        digest: `sha256:${"1".repeat(64)}`,
        size: 1,
        platform: { architecture: "arm64", os: "linux" },
      },
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: real.digest,
        size: real.size,
        platform: { architecture: "amd64", os: "linux" },
      },
    ],
  });
  const token = "tok-" + sha256(opts.user).slice(7, 19);
  const requests: string[] = [];
  let host = "";
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "/";
    requests.push(`${req.method ?? "GET"} ${url}`);
    // The response is the only observer of this handler; failures become a 500 below.
    void (async () => {
      if (url.startsWith("/token")) {
        const want = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString("base64")}`;
        if (req.headers.authorization !== want) {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ token }));
        return;
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, {
          "WWW-Authenticate": `Bearer realm="http://${host}/token",service="fake",scope="repository:${opts.repo}:pull"`,
        });
        res.end();
        return;
      }
      const prefix = `/v2/${opts.repo}/`;
      if (!url.startsWith(prefix)) {
        res.writeHead(404).end();
        return;
      }
      const [kind, ref] = url.slice(prefix.length).split("/");
      if (kind === "manifests" && ref === opts.tag) {
        res.writeHead(200, {
          "Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json",
        });
        res.end(list);
        return;
      }
      if ((kind === "manifests" || kind === "blobs") && ref?.startsWith("sha256:") === true) {
        try {
          const data = await readFile(join(opts.layout, "blobs", "sha256", ref.slice(7)));
          const type =
            kind === "manifests"
              ? "application/vnd.oci.image.manifest.v1+json"
              : "application/octet-stream";
          res.writeHead(200, { "Content-Type": type, "Content-Length": data.length });
          res.end(data);
        } catch {
          res.writeHead(404).end();
        }
        return;
      }
      res.writeHead(404).end();
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    requests,
    indexDigest: sha256(list),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => {
          if (err) reject(err);
          else resolve();
        });
      }),
  };
}
