/** api: resource types, errors, request shapes, defaulting and validation (no I/O). */
export * from "./meta.js";
export * from "./core.js";
export * from "./errors.js";
export * from "./request.js";
export * from "./validation/index.js";
