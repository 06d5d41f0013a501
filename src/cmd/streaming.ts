import type { Duplex } from "node:stream";
import { ApiError, badRequest, isNotFound, notFound, type Pod } from "../api/index.js";
import type {
  AttachRequest,
  ExecRequest,
  PortForwardRequest,
  StreamBackend,
  StreamSession,
} from "../apiserver/streaming/index.js";
import type { Client } from "../client/index.js";
import {
  isRuntimeError,
  type ContainerId,
  type RuntimeService,
  type SandboxId,
} from "../runtime/index.js";

/** Runtime labels the kubelet puts on sandboxes and containers (PL-MAP-4). */
const LABEL_POD_NAME = "io.kubernetes.pod.name";
const LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace";
const LABEL_POD_UID = "io.kubernetes.pod.uid";
const LABEL_CONTAINER_NAME = "io.kubernetes.container.name";
/** The annotation kubectl honours for the container used when none is named. */
const ANN_DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container";

/** Options of {@link NodeStreamBackend}. */
export interface NodeStreamBackendOptions {
  /** Reads pods (the in-process client). */
  client: Client;
  /** The node's runtime; containers are found through the kubelet's labels. */
  runtime: RuntimeService;
}

/**
 * The node side of exec, attach and port-forward: resolves the pod through the API, finds the
 * running runtime container (or ready sandbox) by the kubelet's labels and the pod UID, and
 * hands the request to the runtime. Stateless and safe for concurrent calls. Errors before a
 * session starts are ApiErrors with upstream wording: NotFound for a missing pod, BadRequest
 * for an unknown or not-running container, an unscheduled pod or a runtime refusal.
 */
export class NodeStreamBackend implements StreamBackend {
  readonly #client: Client;
  readonly #runtime: RuntimeService;

  constructor(opts: NodeStreamBackendOptions) {
    this.#client = opts.client;
    this.#runtime = opts.runtime;
  }

  async exec(req: ExecRequest): Promise<StreamSession> {
    const id = await this.#container(req.namespace, req.pod, req.container);
    return this.#withSignal(req.signal, () =>
      this.#runtime.exec(id, req.command, {
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        tty: req.tty,
        signal: req.signal,
      }),
    );
  }

  async attach(req: AttachRequest): Promise<StreamSession> {
    const id = await this.#container(req.namespace, req.pod, req.container);
    return this.#withSignal(req.signal, () =>
      this.#runtime.attach(id, {
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        tty: req.tty,
        signal: req.signal,
      }),
    );
  }

  async portForward(req: PortForwardRequest): Promise<Duplex> {
    const sandbox = await this.#sandbox(req.namespace, req.pod);
    try {
      return await this.#runtime.portForward(sandbox, req.port, { signal: req.signal });
    } catch (err) {
      throw runtimeToApi(err);
    }
  }

  async checkPortForward(req: { namespace: string; pod: string }): Promise<void> {
    await this.#sandbox(req.namespace, req.pod);
  }

  async #withSignal(
    signal: AbortSignal,
    start: () => Promise<StreamSession>,
  ): Promise<StreamSession> {
    let session: StreamSession;
    try {
      session = await start();
    } catch (err) {
      throw runtimeToApi(err);
    }
    // The client may have gone away while the process was starting; nobody else would close it.
    if (signal.aborted) {
      await session.close();
      throw badRequest("client disconnected");
    }
    return session;
  }

  async #pod(namespace: string, name: string): Promise<Pod> {
    let pod: Pod;
    try {
      pod = await this.#client.pods(namespace).get(name);
    } catch (err) {
      if (isNotFound(err)) throw notFound("pods", name);
      throw err;
    }
    if ((pod.spec.nodeName ?? "") === "") {
      throw badRequest(`pod ${name} does not have a host assigned`);
    }
    return pod;
  }

  /** The running runtime container for `container` (or the default one) of the pod. */
  async #container(namespace: string, name: string, container?: string): Promise<ContainerId> {
    const pod = await this.#pod(namespace, name);
    const spec = pod.spec;
    const names = [
      ...spec.containers,
      ...(spec.initContainers ?? []),
      ...(spec.ephemeralContainers ?? []),
    ].map((c) => c.name);
    // Upstream defaults to the annotated container, else the first regular one.
    const wanted =
      container ??
      pod.metadata.annotations?.[ANN_DEFAULT_CONTAINER] ??
      spec.containers[0]?.name ??
      "";
    if (!names.includes(wanted)) {
      throw badRequest(`container ${wanted} is not valid for pod ${name}`);
    }
    const running = (
      await this.#runtime.listContainers({
        labels: {
          [LABEL_POD_NAMESPACE]: namespace,
          [LABEL_POD_NAME]: name,
          [LABEL_CONTAINER_NAME]: wanted,
        },
      })
    )
      .filter((c) => c.state === "running")
      .filter((c) => pod.metadata.uid === undefined || c.labels[LABEL_POD_UID] === pod.metadata.uid)
      .sort((a, b) => b.attempt - a.attempt);
    const found = running[0];
    if (found === undefined) {
      // Upstream kubelet: `unable to upgrade connection: container not found ("c1")`.
      throw badRequest(`container not found ("${wanted}")`);
    }
    return found.id;
  }

  /** The ready sandbox of a running pod (port-forward needs its network namespace). */
  async #sandbox(namespace: string, name: string): Promise<SandboxId> {
    const pod = await this.#pod(namespace, name);
    if (pod.status?.phase !== "Running") {
      throw badRequest(`pod ${name} is not running`);
    }
    const ready = (
      await this.#runtime.listPodSandboxes({
        labels: { [LABEL_POD_NAMESPACE]: namespace, [LABEL_POD_NAME]: name },
      })
    )
      .filter((s) => s.state === "ready")
      .filter((s) => pod.metadata.uid === undefined || s.labels[LABEL_POD_UID] === pod.metadata.uid)
      .sort((a, b) => b.createdAt - a.createdAt);
    const found = ready[0];
    if (found === undefined) throw badRequest(`pod ${name} has no running sandbox`);
    return found.id;
  }
}

/** Runtime refusals become BadRequest with the runtime's message; other errors pass through. */
function runtimeToApi(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  if (isRuntimeError(err))
    return new ApiError("BadRequest", err.message, undefined, { cause: err });
  return err;
}
