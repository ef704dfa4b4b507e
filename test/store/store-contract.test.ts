/**
 * The Store contract against every implementation: MemoryStore, and
 * LmdbStore in both sync modes (each store in its own temporary directory).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LmdbStore, type SyncMode } from "../../src/broker/store/lmdb.js";
import { MemoryStore } from "../../src/broker/store/memory.js";
import type { Store } from "../../src/broker/store/types.js";
import { message, storeContract } from "./contract.js";

const root = mkdtempSync(join(tmpdir(), "starling-store-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => join(root, `s${++dirs}`);

storeContract({ name: "MemoryStore", create: async () => new MemoryStore() });

for (const sync of ["full", "relaxed"] as SyncMode[]) {
  storeContract({
    name: `LmdbStore (sync ${sync})`,
    create: () => LmdbStore.open(newDir(), { sync }),
    async reopen(store: Store) {
      const lmdb = store as LmdbStore;
      await lmdb.close();
      return LmdbStore.open(lmdb.directory, { sync });
    },
  });
}

describe("LmdbStore", () => {
  it("a second open of the same directory in this process is refused, until the first closes", async () => {
    const dir = newDir();
    const first = await LmdbStore.open(dir);
    await assert.rejects(LmdbStore.open(dir), (error: Error & { code?: string }) => {
      assert.equal(error.code, "STORE_LOCKED");
      assert.match(
        error.message,
        new RegExp(`${dir}.*in use by this process \\(${process.pid}\\)`),
      );
      return true;
    });
    await first.close();
    const again = await LmdbStore.open(dir);
    await again.close();
  });

  it("data written in one sync mode is read in the other", async () => {
    const dir = newDir();
    let store = await LmdbStore.open(dir, { sync: "full" });
    const a = store.addMessage(message("a"));
    store.setRetained("a", a);
    await store.close();
    store = await LmdbStore.open(dir, { sync: "relaxed" });
    const b = store.addMessage(message("b"));
    store.setRetained("b", b);
    await store.close();
    store = await LmdbStore.open(dir, { sync: "full" });
    assert.deepEqual(
      (await store.listRetained()).map((r) => r.topic),
      ["a", "b"],
    );
    await store.close();
  });

  it("rejects an unknown sync mode", async () => {
    await assert.rejects(LmdbStore.open(newDir(), { sync: "fast" as SyncMode }), {
      code: "INVALID_ARGUMENT",
    });
  });

  it("a queue far larger than a page is read page by page, and a deleted session's queue goes in one commit", async () => {
    const store = await LmdbStore.open(newDir(), { sync: "relaxed" });
    const id = store.addMessage(message("bulk"));
    for (let i = 0; i < 5000; i++) store.enqueue("bulk", { messageId: id, qos: 1, retain: false });
    await store.commit();
    let after = 0;
    let pages = 0;
    let seen = 0;
    for (;;) {
      const page = await store.readQueue("bulk", after, 500);
      if (page.length === 0) break;
      pages++;
      seen += page.length;
      after = page[page.length - 1].seq;
    }
    assert.equal(seen, 5000);
    assert.equal(pages, 10);
    store.deleteSession("bulk");
    await store.commit();
    assert.equal(await store.queueLength("bulk"), 0);
    const summary = await store.summary();
    assert.equal(summary.queuedMessages, 0);
    assert.equal(summary.storedMessages, 0);
    await store.close();
  });
});
