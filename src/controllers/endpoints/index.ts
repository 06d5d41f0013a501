export {
  EndpointsController,
  SLICE_MANAGER,
  MIRROR_MANAGER,
  type EndpointsControllerOptions,
  type EndpointsClients,
} from "./controller.js";
export {
  computeBackends,
  computeSubsets,
  computeSlice,
  mirrorSlice,
  resolveTargetPort,
  type Backend,
} from "./compute.js";
