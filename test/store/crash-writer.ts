/**
 * Child process of store-crash.test.ts (run with `node --import tsx`).
 *
 *   crash-writer.ts write DIR SYNC   commits numbered batches forever, printing each
 *                                    number after its commit() resolved
 *   crash-writer.ts hold DIR         opens the store, prints "ready", waits to be killed
 *   crash-writer.ts probe DIR...     tries to open each directory, prints one JSON line each
 *   crash-writer.ts delete DIR       fills a long queue for "big" (prints "filled"), deletes
 *                                    the session and queues three new entries for a new "big"
 *                                    (prints "deleted" after that commit), then waits to be
 *                                    killed while the store removes the old entries by itself
 *   crash-writer.ts resume DIR       opens the store (prints "open"), waits to be killed
 *
 * Batch n (see `expectedState` in the test): K(n) messages queued for
 * "crash", the first of them also for "crash2" and retained as `batch/n`;
 * batch n-3's entries dequeued and its retained topic cleared; the retained
 * `progress` message says n; the session "crash" has expiryInterval n.
 */
import { LmdbStore, type SyncMode } from "../../src/broker/store/lmdb.js";
import {
  BIG_QUEUE,
  batchMessage,
  batchSize,
  bigDelivery,
  bigMessage,
  newBigMessage,
  progressMessage,
} from "./crash-batches.js";

async function write(dir: string, sync: SyncMode): Promise<never> {
  const store = await LmdbStore.open(dir, { sync });
  const progress = (await store.listRetained()).find((r) => r.topic === "progress");
  let n =
    progress === undefined ? 1 : Number(new TextDecoder().decode(progress.message.payload)) + 1;
  for (;;) {
    const k = batchSize(n);
    let first = 0;
    for (let i = 0; i < k; i++) {
      const id = store.addMessage(batchMessage(n, i));
      store.enqueue("crash", { messageId: id, qos: 1, retain: false });
      if (i === 0) {
        first = id;
        store.enqueue("crash2", { messageId: id, qos: 1, retain: false });
      }
    }
    store.setRetained(`batch/${n}`, first);
    if (n > 3) {
      for (const e of await store.readQueue("crash", 0, batchSize(n - 3)))
        store.dequeue("crash", e.seq);
      for (const e of await store.readQueue("crash2", 0, 1)) store.dequeue("crash2", e.seq);
      store.setRetained(`batch/${n - 3}`, undefined);
    }
    store.setRetained("progress", store.addMessage(progressMessage(n)));
    store.putSession({
      clientId: "crash",
      version: 5,
      expiryInterval: n,
      subscriptions: [],
      disconnectedAt: 0,
    });
    await store.commit();
    process.stdout.write(`${n}\n`);
    n++;
  }
}

async function deleteLongQueue(dir: string): Promise<void> {
  const store = await LmdbStore.open(dir, { sync: "full" });
  const session = {
    clientId: "big",
    version: 5 as const,
    expiryInterval: 1,
    subscriptions: [],
    disconnectedAt: 0,
  };
  store.putSession(session);
  let m = bigMessage(0);
  let id = 0;
  for (let i = 0; i < BIG_QUEUE; i++) {
    if (i % 10 === 0) {
      m = bigMessage(i / 10);
      id = store.addMessage(m);
    }
    store.enqueue("big", bigDelivery(id, m));
    if (i === 0) store.enqueue("keep", bigDelivery(id, m)); // outlives the deleted queue
    if (i % 10_000 === 9_999) await store.commit();
  }
  await store.commit();
  process.stdout.write("filled\n");
  store.deleteSession("big");
  store.putSession({ ...session, expiryInterval: 2 });
  for (let i = 0; i < 3; i++) {
    const fresh = newBigMessage(i);
    store.enqueue("big", bigDelivery(store.addMessage(fresh), fresh));
  }
  await store.commit();
  process.stdout.write("deleted\n");
  setInterval(() => {}, 1000);
}

async function probe(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    try {
      const store = await LmdbStore.open(dir);
      await store.close();
      process.stdout.write(`${JSON.stringify({ dir, ok: true })}\n`);
    } catch (error) {
      const e = error as Error & { code?: string };
      process.stdout.write(
        `${JSON.stringify({ dir, code: e.code, name: e.name, message: e.message })}\n`,
      );
    }
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "write") await write(args[0], args[1] as SyncMode);
else if (mode === "hold") {
  await LmdbStore.open(args[0]);
  process.stdout.write("ready\n");
  setInterval(() => {}, 1000);
} else if (mode === "probe") await probe(args);
else if (mode === "delete") await deleteLongQueue(args[0]);
else if (mode === "resume") {
  await LmdbStore.open(args[0], { sync: "relaxed" });
  process.stdout.write("open\n");
  setInterval(() => {}, 1000);
} else {
  process.stderr.write(`crash-writer: unknown mode ${mode}\n`);
  process.exit(2);
}
