/** storage: the revisioned Store and its implementations. */
export type { Store, Stored, StoreEvent } from "./types.js";
export { MemoryStore, resolveStoreOptions, type StoreOptions } from "./memory-store.js";
export { SqliteStore } from "./sqlite-store.js";
