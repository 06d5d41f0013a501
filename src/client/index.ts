/** client: typed Client over a Transport, informers. */
export type {
  Transport,
  ListOptions,
  WriteOptions,
  PatchType,
  ResourceClient,
  ResourceRef,
} from "./types.js";
