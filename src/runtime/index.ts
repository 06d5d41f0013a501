/** runtime: the RuntimeService/ImageService contract (CRI-shaped) and its implementations. */
export type * from "./types.js";
export { RuntimeError, isRuntimeError, type RuntimeErrorReason } from "./errors.js";
