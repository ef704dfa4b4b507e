/**
 * The Store contract against every implementation: MemoryStore, and
 * LmdbStore in both sync modes (each store in its own temporary directory).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type DatabaseOptions, open } from "lmdb";
import { DATA_FILE, LmdbStore, type SyncMode } from "../../src/broker/store/lmdb.js";
import { QUEUE_DELETE_CHUNK } from "../../src/broker/store/lmdb-write.js";
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

// Deleted queues removed over many commits, also in the property test's short queues.
storeContract({
  name: "LmdbStore (1 deleted queue entry per commit)",
  create: () => LmdbStore.open(newDir(), { sync: "relaxed", deleteChunk: 1 }),
  async reopen(store: Store) {
    const lmdb = store as LmdbStore;
    await lmdb.close();
    return LmdbStore.open(lmdb.directory, { sync: "relaxed", deleteChunk: 1 });
  },
  longQueue: 120,
});

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

  it("rejects an unknown sync mode, and a deleteChunk that is not a positive integer", async () => {
    await assert.rejects(LmdbStore.open(newDir(), { sync: "fast" as SyncMode }), {
      code: "INVALID_ARGUMENT",
    });
    for (const deleteChunk of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(LmdbStore.open(newDir(), { deleteChunk }), { code: "INVALID_ARGUMENT" });
    }
  });

  it("a queue far larger than a page is read page by page", async () => {
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
    await store.close();
  });

  it(`a deleted session's long queue goes ${QUEUE_DELETE_CHUNK} entries per commit, on later turns by itself; a close leaves the rest to the next open`, async () => {
    const dir = newDir();
    let store = await LmdbStore.open(dir, { sync: "relaxed" });
    const n = 2.5 * QUEUE_DELETE_CHUNK;
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 100 === 0) ids.push(store.addMessage(message(`bulk/${i}`)));
      store.enqueue("bulk", { messageId: ids[ids.length - 1], qos: 1, retain: false, bytes: 9 });
    }
    store.putSession({
      clientId: "bulk",
      version: 5,
      expiryInterval: 9,
      subscriptions: [],
      disconnectedAt: 0,
    });
    await store.commit();
    store.deleteSession("bulk");
    store.enqueue("bulk", { messageId: ids[0], qos: 1, retain: false, bytes: 1 });
    await store.commit();
    // summary() commits only what is staged: it takes no step of its own.
    let summary = await store.summary();
    assert.equal(
      summary.pendingDeletions,
      n - QUEUE_DELETE_CHUNK,
      "one chunk in the deletion's commit",
    );
    assert.equal(summary.queuedMessages, 1);
    assert.equal(summary.sessions, 0);
    assert.equal(
      summary.storedMessages,
      ids.length - QUEUE_DELETE_CHUNK / 100 + 1,
      "the first chunk's messages are gone, but for the one the new entry refers to",
    );
    await store.close();

    store = await LmdbStore.open(dir, { sync: "relaxed" });
    summary = await store.summary();
    assert.equal(summary.pendingDeletions, n - QUEUE_DELETE_CHUNK, "nothing more at close");
    assert.deepEqual(await store.queueSize("bulk"), { length: 1, bytes: 1 });
    // The open resumes the deletion by itself, one chunk per turn.
    const seen = [summary.pendingDeletions];
    for (let waited = 0; summary.pendingDeletions > 0; waited++) {
      assert.ok(waited < 500, "the deletion goes on without commits from outside");
      await new Promise((r) => setTimeout(r, 10));
      summary = await store.summary();
      if (summary.pendingDeletions !== seen[seen.length - 1]) seen.push(summary.pendingDeletions);
    }
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i - 1] - seen[i] <= QUEUE_DELETE_CHUNK * 2, `bounded steps: ${seen}`);
    }
    assert.equal(summary.storedMessages, 1, "only the new entry's message");
    assert.equal(summary.queuedMessages, 1);
    assert.deepEqual(await store.queueSize("bulk"), { length: 1, bytes: 1 });
    await store.close();
  });

  it("a format 1 store is upgraded on open: its entries read the same, without sizes", async () => {
    const dir = newDir();
    let store = await LmdbStore.open(dir);
    const id = store.addMessage(message("old"));
    const seq = store.enqueue("a", { messageId: id, qos: 1, retain: false, subscriptionIds: [4] });
    store.putInflight("a", {
      messageId: id,
      qos: 2,
      retain: false,
      packetId: 3,
      state: "pubrel",
      order: 1,
    });
    store.setRetained("old", id);
    await store.close();
    // Make it what format 1 wrote: no floors table, format 1.
    const file = join(dir, DATA_FILE);
    const env = open({ path: file, noSubdir: true, overlappingSync: true, maxDbs: 12 });
    const options = { encoding: "msgpack", useRecords: false } as DatabaseOptions;
    env.openDB("floors", { ...options, keyEncoding: "binary" } as DatabaseOptions).dropSync();
    env.openDB<unknown, string>("meta", options).putSync("format", { format: 1 });
    assert.equal(env.openDB("floors", { ...options, create: false } as DatabaseOptions), undefined);
    await env.close();

    store = await LmdbStore.open(dir);
    assert.deepEqual(await store.readQueue("a", 0, 10), [
      { seq, delivery: { messageId: id, qos: 1, retain: false, subscriptionIds: [4] } },
    ]);
    assert.deepEqual(await store.queueSize("a"), { length: 1, bytes: 0 });
    assert.deepEqual(await store.listInflight("a"), [
      { messageId: id, qos: 2, retain: false, packetId: 3, state: "pubrel", order: 1 },
    ]);
    assert.equal((await store.listRetained())[0].messageId, id);
    store.deleteSession("a");
    await store.commit();
    const summary = await store.summary();
    assert.equal(summary.formatVersion, 2);
    assert.equal(summary.storedMessages, 1);
    assert.equal(summary.queuedMessages, 0);
    await store.close();
  });
});
