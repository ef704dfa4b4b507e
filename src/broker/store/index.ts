/**
 * The store seam the broker core may import (ARCHITECTURE.md): the
 * interface, its error type and the memory implementation. The durable
 * `LmdbStore` (`./lmdb.js`) is chosen by the composition root, so importing
 * the core never loads LMDB's native module.
 */
export { StoreError } from "./errors.js";
export { MemoryStore } from "./memory.js";
export type * from "./types.js";
