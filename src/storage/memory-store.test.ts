import { MemoryStore } from "./memory-store.js";
import { storeSuite } from "./testing/store-suite.js";

storeSuite("MemoryStore", (opts) => Promise.resolve({ store: new MemoryStore(opts) }));
