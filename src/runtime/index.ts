/** runtime: the RuntimeService/ImageService contract (CRI-shaped) and its implementations. */
export type * from "./types.js";
export { RuntimeError, isRuntimeError, type RuntimeErrorReason } from "./errors.js";
export {
  FakeRuntime,
  type FakeRuntimeOptions,
  type RuntimeMethod,
  type RecordedCall,
  type ExecHandler,
} from "./testing/fake-runtime.js";
export {
  FakeImageService,
  type FakeImageSpec,
  type ImageMethod,
} from "./testing/fake-image-service.js";
export {
  OciImageStore,
  normalizeReference,
  parseReference,
  formatReference,
  type OciImageStoreOptions,
  type RegistryConfig,
  type ImageReference,
} from "./images/index.js";
export {
  RuncRuntime,
  resolveRuncRuntimeOptions,
  type RuncRuntimeOptions,
  type LayerSource,
} from "./runc/runc-runtime.js";
export { type CniNetworkConfig } from "./network/cni.js";
