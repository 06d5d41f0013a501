import type {
  ContainerId,
  ContainerStats,
  ContainerStatus,
  SandboxId,
  SandboxStatus,
} from "../../runtime/index.js";
import { RuntimeError } from "../../runtime/index.js";
import type { Clock } from "../../util/index.js";
import { LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE } from "../runtime-pod.js";
import type { StatsRuntime } from "../stats.js";

interface FakeContainer {
  status: ContainerStatus;
  cpuUsageNanos: number;
  memoryWorkingSetBytes: number;
}

/**
 * In-memory {@link StatsRuntime}: running containers with cumulative CPU counters the test
 * moves forward (`burn`). Stats are stamped with the injected clock. Unknown or exited ids
 * answer RuntimeError "NotFound", like a container that exited between list and stats.
 */
export class FakeStatsRuntime implements StatsRuntime {
  readonly #clock: Clock;
  readonly #containers = new Map<string, FakeContainer>();
  readonly #sandboxes = new Map<string, SandboxStatus>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Adds a running container of pod `ns/pod` (and its ready sandbox). */
  addContainer(id: string, ns: string, pod: string, name: string, memoryBytes = 0): void {
    const sandboxId = `sb-${ns}-${pod}` as SandboxId;
    this.#sandboxes.set(sandboxId, {
      id: sandboxId,
      name: pod,
      attempt: 0,
      state: "ready",
      createdAt: this.#clock.now(),
      ips: [],
      hostNetwork: false,
      labels: {},
      annotations: {},
    });
    this.#containers.set(id, {
      cpuUsageNanos: 0,
      memoryWorkingSetBytes: memoryBytes,
      status: {
        id: id as ContainerId,
        sandboxId,
        name,
        attempt: 0,
        state: "running",
        createdAt: this.#clock.now(),
        image: "busybox",
        imageRef: "sha256:0",
        labels: {
          [LABEL_POD_NAMESPACE]: ns,
          [LABEL_POD_NAME]: pod,
          [LABEL_CONTAINER_NAME]: name,
        },
        annotations: {},
        logPath: "",
      },
    });
  }

  /** Adds `nanos` of CPU time to a container's counter. */
  burn(id: string, nanos: number): void {
    const c = this.#containers.get(id);
    if (c === undefined) throw new RangeError(`unknown container ${id}`);
    c.cpuUsageNanos += nanos;
  }

  /** Marks a container exited. */
  exit(id: string): void {
    const c = this.#containers.get(id);
    if (c !== undefined) c.status = { ...c.status, state: "exited" };
  }

  listContainers(): Promise<ContainerStatus[]> {
    return Promise.resolve([...this.#containers.values()].map((c) => c.status));
  }

  listPodSandboxes(): Promise<SandboxStatus[]> {
    return Promise.resolve([...this.#sandboxes.values()]);
  }

  containerStats(id: ContainerId): Promise<ContainerStats> {
    const c = this.#containers.get(id);
    if (c?.status.state !== "running") {
      return Promise.reject(new RuntimeError("NotFound", `container ${id} not found`));
    }
    return Promise.resolve({
      timestampMs: this.#clock.now(),
      cpuUsageNanos: c.cpuUsageNanos,
      memoryWorkingSetBytes: c.memoryWorkingSetBytes,
      memoryUsageBytes: c.memoryWorkingSetBytes,
    });
  }
}
