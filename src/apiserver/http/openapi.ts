import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ApiError, type ApiRequest, type ApiResponse } from "../../api/index.js";
import { RESOURCES } from "../resources.js";

/**
 * Where the generated documents live (`scripts/gen-openapi.ts` writes them; a build must copy
 * this folder next to the compiled module).
 */
const DATA_DIR = fileURLToPath(new URL("./openapi-data/", import.meta.url));

interface OpenApiDoc {
  /** `api/v1`, `apis/apps/v1`. */
  groupVersion: string;
  bytes: Buffer;
  hash: string;
}

let cache: Map<string, OpenApiDoc> | undefined;

/** Loads (once) every generated document whose group-version podrun serves. */
function documents(): Map<string, OpenApiDoc> {
  if (cache !== undefined) return cache;
  const served = new Set(
    RESOURCES.map((r) => (r.group === "" ? `api/${r.version}` : `apis/${r.group}/${r.version}`)),
  );
  const docs = new Map<string, OpenApiDoc>();
  for (const file of readdirSync(DATA_DIR).sort()) {
    if (!file.endsWith(".json")) continue;
    const groupVersion = file.slice(0, -".json".length).replaceAll("__", "/");
    if (!served.has(groupVersion)) continue;
    // The files are pretty-printed for review; serve them compact.
    const bytes = Buffer.from(JSON.stringify(JSON.parse(readFileSync(DATA_DIR + file, "utf8"))));
    // The hash only has to change whenever the document does (KA-OAPI-1).
    const hash = createHash("sha512").update(bytes).digest("hex").slice(0, 16).toUpperCase();
    docs.set(groupVersion, { groupVersion, bytes, hash });
  }
  cache = docs;
  return docs;
}

/** The `/openapi/v3` index (KA-OAPI-1): one `serverRelativeURL` with `?hash=` per group-version. */
export function openApiIndex(): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const d of documents().values()) {
    paths[d.groupVersion] = { serverRelativeURL: `/openapi/v3/${d.groupVersion}?hash=${d.hash}` };
  }
  return { paths };
}

/**
 * Answers `/openapi/v2` (200, empty `application/octet-stream` body, enough for kubectl
 * 1.27/1.28 per KA-OAPI-3), `/openapi/v3` (index) and `/openapi/v3/<group-version>` (the
 * document with schemas and PATCH `fieldValidation` parameters, KA-OAPI-2/4). Other paths
 * throw ApiError "NotFound"; other methods "MethodNotAllowed".
 */
export function serveOpenApi(req: ApiRequest): ApiResponse {
  if (req.method !== "GET") {
    throw new ApiError(
      "MethodNotAllowed",
      "the server does not allow this method on the requested resource",
    );
  }
  const path = req.path.replace(/\/+$/, "");
  if (path === "/openapi/v2") {
    return { status: 200, body: new Uint8Array(), contentType: "application/octet-stream" };
  }
  if (path === "/openapi/v3") return { status: 200, body: openApiIndex() };
  const doc = path.startsWith("/openapi/v3/")
    ? documents().get(path.slice("/openapi/v3/".length))
    : undefined;
  if (doc === undefined) {
    throw new ApiError("NotFound", "the server could not find the requested resource");
  }
  const hashed = req.query?.["hash"] !== undefined;
  return {
    status: 200,
    body: doc.bytes,
    contentType: "application/json",
    headers: {
      // Documents addressed by hash never change (upstream sends the same header).
      "Cache-Control": hashed ? "public, immutable" : "no-cache, private",
      Etag: `"${doc.hash}"`,
    },
  };
}
