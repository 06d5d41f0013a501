/** storage: the revisioned Store and its implementations. */
export type { Store, Stored, StoreEvent } from "./types.js";
