/** images: the OCI image store (content by digest, registry pulls, safe layer unpack). */
export { OciImageStore, type OciImageStoreOptions } from "./store.js";
export type { RegistryConfig } from "./registry.js";
export {
  parseReference,
  normalizeReference,
  formatReference,
  repositoryName,
  isImageId,
  type ImageReference,
} from "./reference.js";
export { hostXattrSetter, type XattrSetter } from "./xattr.js";
