import type { ResourceClient } from "../client/index.js";
import type { EndpointSlice, KubeObject, Service } from "../api/index.js";

/** The slice of a typed client the proxy's informers need. */
export type ResourceClientLike<T extends KubeObject> = Pick<ResourceClient<T>, "list" | "watch">;
export type { EndpointSlice, KubeObject, Service };
