import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { registryEndpoints } from "../runtime/images/registry.js";
import {
  RegistriesConfigError,
  loadRegistriesConfig,
  parseRegistriesConfig,
} from "./registries.js";

describe("registries.yaml (k3s format)", () => {
  test("mirrors come first; a registry that is its own http endpoint is spoken to over HTTP", () => {
    const cfg = parseRegistriesConfig(
      `mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000", "https://mirror.example/v2"]
  "127.0.0.1:5000":
    endpoint: ["http://127.0.0.1:5000"]
`,
      "r.yaml",
    );
    assert.deepEqual(registryEndpoints("docker.io", cfg), [
      { baseUrl: "http://127.0.0.1:5000", isMirror: true },
      { baseUrl: "https://mirror.example", isMirror: true },
      { baseUrl: "https://registry-1.docker.io", isMirror: false },
    ]);
    assert.deepEqual(registryEndpoints("127.0.0.1:5000", cfg), [
      { baseUrl: "http://127.0.0.1:5000", isMirror: false },
    ]);
  });

  test("an empty file means no mirrors", () => {
    assert.deepEqual(parseRegistriesConfig("", "r.yaml"), {});
  });

  test("bad input names the file and the field", () => {
    assert.throws(
      () => parseRegistriesConfig("mirrors:\n  docker.io:\n    endpoint: 5\n", "/etc/r.yaml"),
      (err: unknown) =>
        err instanceof RegistriesConfigError &&
        err.message === "/etc/r.yaml: mirrors[docker.io].endpoint: must be a list of URLs",
    );
    assert.throws(
      () => parseRegistriesConfig('mirrors:\n  q.io:\n    endpoint: ["ftp://x"]\n', "r.yaml"),
      /mirrors\[q\.io\]\.endpoint: ftp:\/\/x must be http:\/\/ or https:\/\//,
    );
    assert.throws(() => parseRegistriesConfig("mirrors: [", "r.yaml"), /r\.yaml: not valid YAML/);
  });

  test("a missing file is no configuration", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "podrun-reg-"));
    try {
      assert.deepEqual(await loadRegistriesConfig(path.join(dir, "none.yaml")), {});
      await writeFile(path.join(dir, "r.yaml"), 'mirrors: {"a.io": {endpoint: ["https://b.io"]}}');
      assert.deepEqual(await loadRegistriesConfig(path.join(dir, "r.yaml")), {
        mirrors: { "a.io": ["https://b.io"] },
        insecure: [],
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
