// Registry mirrors and plain-HTTP registries for the node's image store, read from a
// `registries.yaml` in the format k3s uses (`/etc/rancher/k3s/registries.yaml`):
//
//   mirrors:
//     docker.io:
//       endpoint: ["http://127.0.0.1:5000"]
//     "127.0.0.1:5000":
//       endpoint: ["http://127.0.0.1:5000"]
//
// A mirror endpoint is tried before the registry itself, in order; its URL's scheme chooses HTTP
// or HTTPS. A registry listed as its own plain-`http://` endpoint is spoken to over HTTP.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "yaml";
import { DockerKeyring, dockerConfigOfJson } from "../kubelet/index.js";
import type { RegistryConfig } from "../runtime/index.js";

/** Thrown for a registries file that cannot be used; the message names the file and the field. */
export class RegistriesConfigError extends Error {
  override readonly name = "RegistriesConfigError";
}

/** Parses the text of a registries file (`file` only names it in errors). */
export function parseRegistriesConfig(text: string, file: string): RegistryConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new RegistriesConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) throw new RegistriesConfigError(`${file}: must be a mapping`);
  const mirrors: Record<string, string[]> = {};
  const insecure: string[] = [];
  const section = doc["mirrors"] ?? {};
  if (!isRecord(section)) throw new RegistriesConfigError(`${file}: mirrors: must be a mapping`);
  for (const [host, entry] of Object.entries(section)) {
    const field = `mirrors[${host}].endpoint`;
    const endpoints = isRecord(entry) ? entry["endpoint"] : undefined;
    if (!Array.isArray(endpoints) || !endpoints.every((e) => typeof e === "string")) {
      throw new RegistriesConfigError(`${file}: ${field}: must be a list of URLs`);
    }
    const urls: string[] = [];
    for (const e of endpoints) {
      let url: URL;
      try {
        url = new URL(e);
      } catch {
        throw new RegistriesConfigError(`${file}: ${field}: invalid URL ${JSON.stringify(e)}`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new RegistriesConfigError(`${file}: ${field}: ${e} must be http:// or https://`);
      }
      if (url.host === host && url.protocol === "http:") insecure.push(host);
      else urls.push(e);
    }
    if (urls.length > 0) mirrors[host] = urls;
  }
  return { mirrors, insecure };
}

/** Reads `file`; a missing file means no mirrors and no plain-HTTP registries. */
export async function loadRegistriesConfig(file: string): Promise<RegistryConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw err;
  }
  return parseRegistriesConfig(text, file);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The node's registry credentials, as the kubelet's docker config keyring finds them: the
 * first of `<dataDir>/config.json` and `$HOME/.docker/config.json` that exists.
 */
export async function loadNodeKeyring(dataDir: string): Promise<DockerKeyring> {
  const home = process.env["HOME"] ?? "/root";
  for (const file of [path.join(dataDir, "config.json"), path.join(home, ".docker/config.json")]) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    try {
      return DockerKeyring.of(dockerConfigOfJson(text));
    } catch (err) {
      throw new RegistriesConfigError(`${file}: not valid JSON: ${(err as Error).message}`);
    }
  }
  return new DockerKeyring();
}
