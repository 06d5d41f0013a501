import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runtimeConformanceSuite } from "./conformance.js";
import { FakeImageService } from "./fake-image-service.js";
import { FakeRuntime } from "./fake-runtime.js";

// The fake acts out the suite's argv vocabulary (see ConformanceHarness).
runtimeConformanceSuite("FakeRuntime", async () => {
  const runtime = new FakeRuntime();
  const images = new FakeImageService();
  images.addRemote("docker.io/library/busybox:latest");
  runtime.execHandler = (_c, argv) => {
    if (argv[0] === "sleep") return { exitCode: 137, timedOut: true };
    if (argv.join(" ") === "sh -c echo out; echo err >&2; exit 3")
      return { exitCode: 3, stdout: "out\n", stderr: "err\n" };
    return { exitCode: 0 };
  };
  const logDir = await mkdtemp(join(tmpdir(), "podrun-conformance-"));
  return {
    runtime,
    images,
    image: "docker.io/library/busybox:latest",
    logDir,
    onContainerStarted: (id, argv) => {
      const m = /^exit (\d+)$/.exec(argv[2] ?? "");
      if (argv[0] === "sh" && m !== null) runtime.exitContainer(id, Number(m[1]));
    },
    cleanup: () => rm(logDir, { recursive: true, force: true }),
  };
});
