/** controllers: reconcilers that keep derived objects in step (endpoints, …). */
export * from "./endpoints/index.js";
export * from "./root-ca/index.js";
