/**
 * The contract of the `Store` seam (src/broker/store/types.ts), run against
 * every implementation (`storeContract(harness)`, in the manner of
 * aedes-persistence's abstract tests). A durable harness (one with `reopen`)
 * also checks that everything committed survives a close and reopen and that
 * ids are never reused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareCodePoints } from "../../src/broker/store/order.js";
import type {
  Store,
  StoredDelivery,
  StoredInflight,
  StoredMessage,
  StoredSession,
} from "../../src/broker/store/types.js";

export interface StoreHarness {
  name: string;
  /** A new, empty store. */
  create(): Promise<Store>;
  /** Closes `store` and opens the same data again (durable stores only). */
  reopen?(store: Store): Promise<Store>;
  /** Entries of the long queues deleted in the deleteSession tests (20,000 unless said; a multiple of 40). */
  longQueue?: number;
}

const SEED = 20261125;
/** Client ids whose keys could collide if a store did not delimit them. */
const CLIENTS = ["a", "ab", "b", "ünï", "c".repeat(300)];
/** Topics whose code point order differs from UTF-16 order, and one too long for a key. */
const TOPICS = ["a", "a/b", "b", "é", "\uffee", "😀", `long/${"t".repeat(2000)}`];

export function message(
  topic: string,
  payload: Uint8Array = new Uint8Array([1, 2, 3]),
): StoredMessage {
  return { topic, payload, qos: 1, retain: false, expiresAt: 0, origin: "pub" };
}

function session(clientId: string, extra: Partial<StoredSession> = {}): StoredSession {
  return {
    clientId,
    version: 5,
    expiryInterval: 3600,
    subscriptions: [
      {
        filter: "a/#",
        qos: 1,
        noLocal: false,
        retainAsPublished: true,
        retainHandling: 0,
        subscriptionId: 7,
      },
      { filter: "$share/g/b", qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 2 },
    ],
    disconnectedAt: 0,
    ...extra,
  };
}

function delivery(messageId: number, qos: 0 | 1 | 2 = 1): StoredDelivery {
  return { messageId, qos, retain: false };
}

function inflight(messageId: number, packetId: number, order: number): StoredInflight {
  return { messageId, qos: 1, retain: false, packetId, state: "publish", order };
}

const byClientId = (a: StoredSession, b: StoredSession) =>
  compareCodePoints(a.clientId, b.clientId);

/** Runs `body` on a new store and closes it (reopened stores included). */
async function withStore(h: StoreHarness, body: (s: { store: Store }) => Promise<void>) {
  const box = { store: await h.create() };
  try {
    await body(box);
  } finally {
    await box.store.close();
  }
}

/** Commits until no deleted queue entry is left on disk (`pendingDeletions`). */
export async function finishDeletions(store: Store): Promise<void> {
  for (let commits = 0; (await store.summary()).pendingDeletions > 0; commits++) {
    assert.ok(commits < 1000, "deferred deletions finish");
    await store.commit();
  }
}

export function storeContract(h: StoreHarness): void {
  describe(`Store contract: ${h.name}`, () => {
    it("sessions: put, get, list, overwrite, delete", async () => {
      await withStore(h, async ({ store }) => {
        assert.equal(await store.getSession("a"), undefined);
        const will = {
          topic: "will/a",
          payload: new Uint8Array([0, 255, 7]),
          qos: 1 as const,
          retain: true,
          properties: {
            willDelayInterval: 30,
            correlationData: new Uint8Array([9, 8]),
            userProperties: [["k", "v"]] as Array<[string, string]>,
          },
        };
        const a = session("a", { will, willUsername: "alice", disconnectedAt: 1234 });
        store.putSession(a);
        store.putSession(session("ab", { version: 4 }));
        assert.deepEqual(await store.getSession("a"), a, "read before commit");
        await store.commit();
        assert.deepEqual(await store.getSession("a"), a);
        assert.deepEqual(await store.getSession("ab"), session("ab", { version: 4 }));
        assert.equal(await store.getSession("b"), undefined);
        store.putSession(session("a", { expiryInterval: 0xffffffff }));
        await store.commit();
        assert.equal((await store.getSession("a"))?.expiryInterval, 0xffffffff);
        const list = (await store.listSessions()).sort(byClientId);
        assert.deepEqual(
          list.map((s) => s.clientId),
          ["a", "ab"],
        );
        store.deleteSession("a");
        assert.equal(await store.getSession("a"), undefined, "deleted before commit");
        await store.commit();
        assert.equal(await store.getSession("a"), undefined);
        assert.deepEqual(
          (await store.listSessions()).map((s) => s.clientId),
          ["ab"],
        );
      });
    });

    it("deleteSession removes queue, in-flight and inbound QoS 2 and releases messages", async () => {
      await withStore(h, async ({ store }) => {
        store.putSession(session("a"));
        store.putSession(session("ab"));
        const m1 = store.addMessage(message("t/1"));
        const m2 = store.addMessage(message("t/2"));
        const m3 = store.addMessage(message("t/3"));
        const m4 = store.addMessage(message("t/4"));
        store.enqueue("a", delivery(m1));
        store.enqueue("a", delivery(m4));
        store.enqueue("ab", delivery(m1));
        store.putInflight("a", inflight(m2, 1, 1));
        store.addInboundQos2("a", 5);
        store.addInboundQos2("ab", 5);
        await store.commit();
        store.enqueue("a", delivery(m3)); // staged, then deleted in the same batch
        store.deleteSession("a");
        assert.equal(await store.queueLength("a"), 0);
        assert.deepEqual(await store.readQueue("a", 0, 10), []);
        assert.deepEqual(await store.listInflight("a"), []);
        assert.deepEqual(await store.listInboundQos2("a"), []);
        await store.commit();
        assert.equal(await store.queueLength("a"), 0);
        assert.deepEqual(await store.listInflight("a"), []);
        assert.deepEqual(await store.listInboundQos2("a"), []);
        assert.deepEqual(
          await store.listInboundQos2("ab"),
          [5],
          "a client whose id extends 'a' keeps its state",
        );
        assert.equal(await store.queueLength("ab"), 1);
        await finishDeletions(store); // a durable store may take a few commits
        assert.ok(await store.getMessage(m1), "still queued for ab");
        assert.equal(
          await store.getMessage(m2),
          undefined,
          "only a's in-flight entry referred to it",
        );
        assert.equal(await store.getMessage(m3), undefined);
        assert.equal(await store.getMessage(m4), undefined, "only a's queue referred to it");
        // The client comes back: a new session starts empty.
        store.putSession(session("a"));
        store.enqueue("a", delivery(m1));
        await store.commit();
        assert.equal(await store.queueLength("a"), 1);
        const summary = await store.summary();
        assert.equal(summary.storedMessages, 1);
        assert.equal(summary.sessions, 2);
      });
    });

    it("a message is kept while anything refers to it, and dropped after its last reference", async () => {
      await withStore(h, async ({ store }) => {
        const shared = store.addMessage(message("shared"));
        const loose = store.addMessage(message("loose"));
        const s1 = store.enqueue("a", delivery(shared));
        const s2 = store.enqueue("b", delivery(shared));
        assert.deepEqual(await store.getMessage(loose), message("loose"), "readable while staged");
        await store.commit();
        assert.equal(await store.getMessage(loose), undefined, "nothing referred to it at commit");
        store.dequeue("a", s1);
        await store.commit();
        assert.deepEqual(await store.getMessage(shared), message("shared"), "still queued for b");
        store.dequeue("b", s2);
        await store.commit();
        assert.equal(await store.getMessage(shared), undefined);
        assert.equal((await store.summary()).storedMessages, 0);
      });
    });

    it("a message that loses its last reference and gains another in one batch is kept", async () => {
      await withStore(h, async ({ store }) => {
        const id = store.addMessage(message("x"));
        const seq = store.enqueue("a", delivery(id));
        await store.commit();
        store.dequeue("a", seq); // delivered: leaves the queue ...
        store.putInflight("a", inflight(id, 1, 1)); // ... and goes in flight
        await store.commit();
        assert.deepEqual(await store.getMessage(id), message("x"));
        store.putInflight("a", { ...inflight(id, 1, 1), state: "pubrel" });
        await store.commit();
        assert.ok(await store.getMessage(id), "replacing an entry with the same message keeps it");
        store.deleteInflight("a", 1);
        await store.commit();
        assert.equal(await store.getMessage(id), undefined);
      });
    });

    it("retained: replacing or clearing releases the old message; a retained message is shared with queues", async () => {
      await withStore(h, async ({ store }) => {
        const m1 = store.addMessage(message("r"));
        store.setRetained("r", m1);
        store.enqueue("a", delivery(m1));
        await store.commit();
        const m2 = store.addMessage(message("r", new Uint8Array([2])));
        store.setRetained("r", m2);
        await store.commit();
        assert.ok(await store.getMessage(m1), "still queued");
        assert.deepEqual(await store.listRetained(), [
          { topic: "r", messageId: m2, message: message("r", new Uint8Array([2])) },
        ]);
        const [entry] = await store.readQueue("a", 0, 1);
        store.dequeue("a", entry.seq);
        await store.commit();
        assert.equal(await store.getMessage(m1), undefined);
        store.setRetained("r", undefined);
        assert.deepEqual(await store.listRetained(), [], "cleared before commit");
        await store.commit();
        assert.equal(await store.getMessage(m2), undefined);
        assert.deepEqual(await store.listRetained(), []);
        store.setRetained("nothing", undefined); // clearing an unset topic is a no-op
        await store.commit();
        assert.equal((await store.summary()).retainedMessages, 0);
      });
    });

    it("retained topics are listed in code point order (long and non-ASCII topics included)", async () => {
      await withStore(h, async ({ store }) => {
        const shuffled = [...TOPICS].reverse();
        for (const topic of shuffled.slice(0, 4))
          store.setRetained(topic, store.addMessage(message(topic)));
        await store.commit();
        for (const topic of shuffled.slice(4))
          store.setRetained(topic, store.addMessage(message(topic)));
        const expected = [...TOPICS].sort(compareCodePoints);
        assert.deepEqual(
          (await store.listRetained()).map((r) => r.topic),
          expected,
          "committed and staged merged",
        );
        await store.commit();
        const listed = await store.listRetained();
        assert.deepEqual(
          listed.map((r) => r.topic),
          expected,
        );
        for (const r of listed) assert.deepEqual(r.message, message(r.topic));
        assert.ok(
          expected.indexOf("\uffee") < expected.indexOf("😀"),
          "code point, not UTF-16, order",
        );
      });
    });

    it("queues: FIFO order, paging with readQueue(afterSeq, limit), dequeue from the middle", async () => {
      await withStore(h, async ({ store }) => {
        const id = store.addMessage(message("q"));
        const seqs: number[] = [];
        for (let i = 0; i < 12; i++)
          seqs.push(store.enqueue("a", delivery(id, (i % 3) as 0 | 1 | 2)));
        await store.commit();
        for (let i = 12; i < 25; i++)
          seqs.push(store.enqueue("a", delivery(id, (i % 3) as 0 | 1 | 2)));
        store.enqueue("ab", delivery(id));
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], "seqs increase");
        const all = await store.readQueue("a", 0, 1000);
        assert.deepEqual(
          all.map((e) => e.seq),
          seqs,
        );
        assert.deepEqual(
          all.map((e) => e.delivery.qos),
          seqs.map((_, i) => i % 3),
        );
        // Page through committed and staged entries.
        const paged: number[] = [];
        for (let after = 0; ; ) {
          const page = await store.readQueue("a", after, 4);
          if (page.length === 0) break;
          assert.ok(page.length <= 4);
          paged.push(...page.map((e) => e.seq));
          after = page[page.length - 1].seq;
        }
        assert.deepEqual(paged, seqs);
        assert.deepEqual(
          (await store.readQueue("a", seqs[10], 3)).map((e) => e.seq),
          seqs.slice(11, 14),
          "after a seq, across the committed/staged boundary",
        );
        assert.deepEqual(await store.readQueue("a", seqs[24], 10), []);
        assert.deepEqual(await store.readQueue("a", 0, 0), []);
        // Dequeue from the head, the middle (committed and staged) and the tail.
        const gone = [seqs[0], seqs[5], seqs[13], seqs[24]];
        for (const seq of gone) store.dequeue("a", seq);
        store.dequeue("a", seqs[5]); // twice: no-op
        store.dequeue("a", 999_999); // never queued: no-op
        const left = seqs.filter((s) => !gone.includes(s));
        assert.equal(await store.queueLength("a"), left.length);
        assert.deepEqual(
          (await store.readQueue("a", 0, 100)).map((e) => e.seq),
          left,
        );
        await store.commit();
        assert.equal(await store.queueLength("a"), left.length);
        assert.equal(await store.queueLength("ab"), 1);
        assert.equal(await store.queueLength("b"), 0);
        assert.deepEqual(
          (await store.readQueue("a", seqs[4], 2)).map((e) => e.seq),
          [seqs[6], seqs[7]],
        );
        assert.equal((await store.summary()).queuedMessages, left.length + 1);
      });
    });

    it("in flight: listed in send order; replaced by packet id; deleted", async () => {
      await withStore(h, async ({ store }) => {
        const id = store.addMessage(message("f"));
        store.putInflight("a", inflight(id, 300, 3));
        store.putInflight("a", { ...inflight(id, 2, 1), subscriptionIds: [4, 5] });
        await store.commit();
        store.putInflight("a", inflight(id, 65535, 2));
        store.putInflight("ab", inflight(id, 2, 9));
        assert.deepEqual(
          (await store.listInflight("a")).map((e) => e.packetId),
          [2, 65535, 300],
        );
        await store.commit();
        const list = await store.listInflight("a");
        assert.deepEqual(list[0], { ...inflight(id, 2, 1), subscriptionIds: [4, 5] });
        store.putInflight("a", { ...inflight(id, 300, 3), state: "pubrel", qos: 2 });
        store.deleteInflight("a", 65535);
        store.deleteInflight("a", 1234); // absent: no-op
        const expected = [
          { ...inflight(id, 2, 1), subscriptionIds: [4, 5] },
          { ...inflight(id, 300, 3), state: "pubrel" as const, qos: 2 as const },
        ];
        assert.deepEqual(await store.listInflight("a"), expected);
        await store.commit();
        assert.deepEqual(await store.listInflight("a"), expected);
        assert.deepEqual(
          (await store.listInflight("ab")).map((e) => e.packetId),
          [2],
        );
        assert.deepEqual(await store.listInflight("b"), []);
        assert.equal((await store.summary()).inflightMessages, 3);
      });
    });

    it("inbound QoS 2: add, add again, delete, listed by packet id", async () => {
      await withStore(h, async ({ store }) => {
        store.addInboundQos2("a", 9);
        store.addInboundQos2("a", 65535);
        store.addInboundQos2("a", 1);
        await store.commit();
        store.addInboundQos2("a", 9);
        store.addInboundQos2("a", 300);
        store.deleteInboundQos2("a", 1);
        store.deleteInboundQos2("a", 2);
        assert.deepEqual(await store.listInboundQos2("a"), [9, 300, 65535]);
        await store.commit();
        assert.deepEqual(await store.listInboundQos2("a"), [9, 300, 65535]);
        assert.deepEqual(await store.listInboundQos2("ab"), []);
      });
    });

    it("reads see staged changes (read-your-writes) on top of committed ones", async () => {
      await withStore(h, async ({ store }) => {
        const id = store.addMessage(message("w"));
        const seq = store.enqueue("a", delivery(id));
        store.putInflight("a", inflight(id, 1, 1));
        store.addInboundQos2("a", 1);
        store.setRetained("w", id);
        store.putSession(session("a"));
        await store.commit();
        // Change everything again without committing.
        store.dequeue("a", seq);
        const seq2 = store.enqueue("a", delivery(id, 2));
        store.deleteInflight("a", 1);
        store.putInflight("a", inflight(id, 2, 2));
        store.deleteInboundQos2("a", 1);
        store.addInboundQos2("a", 2);
        const id2 = store.addMessage(message("w2"));
        store.setRetained("w", id2);
        store.putSession(session("a", { expiryInterval: 5 }));
        store.putSession(session("b"));
        const check = async () => {
          assert.deepEqual(await store.readQueue("a", 0, 10), [
            { seq: seq2, delivery: delivery(id, 2) },
          ]);
          assert.equal(await store.queueLength("a"), 1);
          assert.deepEqual(await store.listInflight("a"), [inflight(id, 2, 2)]);
          assert.deepEqual(await store.listInboundQos2("a"), [2]);
          assert.deepEqual(await store.listRetained(), [
            { topic: "w", messageId: id2, message: message("w2") },
          ]);
          assert.equal((await store.getSession("a"))?.expiryInterval, 5);
          assert.deepEqual((await store.listSessions()).map((s) => s.clientId).sort(), ["a", "b"]);
        };
        await check();
        await store.commit();
        await check();
      });
    });

    it("commit() calls made while one is under way all resolve, with everything staged", async () => {
      await withStore(h, async ({ store }) => {
        const ids: number[] = [];
        const commits: Promise<void>[] = [];
        for (let i = 0; i < 50; i++) {
          const id = store.addMessage(message(`c/${i}`));
          ids.push(id);
          store.enqueue("a", delivery(id));
          commits.push(store.commit());
          if (i % 10 === 0) await Promise.resolve();
        }
        commits.push(store.commit(), store.commit());
        await Promise.all(commits);
        assert.equal(await store.queueLength("a"), 50);
        for (const id of ids) assert.ok(await store.getMessage(id));
        await store.commit(); // nothing staged
      });
    });

    it("commit() promises resolve in the order commit() was called, staged or not (acknowledgements keep their order)", async () => {
      await withStore(h, async ({ store }) => {
        const order: string[] = [];
        const stage = (i: number) =>
          store.enqueue("a", delivery(store.addMessage(message(`o/${i}`))));
        for (let round = 0; round < 5; round++) {
          stage(1);
          const first = store.commit().then(() => void order.push(`${round}:first`));
          stage(2);
          // Called while the first is under way: waits for the next commit.
          const second = store.commit().then(() => void order.push(`${round}:second`));
          await first;
          // Nothing staged, called while the second may be under way: resolves after it.
          const third = store.commit().then(() => void order.push(`${round}:third`));
          await Promise.all([second, third]);
        }
        const expected = [];
        for (let round = 0; round < 5; round++)
          expected.push(`${round}:first`, `${round}:second`, `${round}:third`);
        assert.deepEqual(order, expected);
      });
    });

    it("payloads and properties round-trip exactly (random bytes 0..64 KiB)", async () => {
      await withStore(h, async (box) => {
        const cases = fc.sample(
          fc.record({
            payload: fc.uint8Array({ minLength: 0, maxLength: 65536 }),
            correlationData: fc.uint8Array({ maxLength: 64 }),
            userProperties: fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 4 }),
            contentType: fc.option(fc.string(), { nil: undefined }),
            expiresAt: fc.integer({ min: 0, max: 2 ** 47 }),
          }),
          { numRuns: 24, seed: SEED },
        );
        const stored: [number, StoredMessage][] = [];
        for (const c of cases) {
          const m: StoredMessage = {
            topic: "bin",
            payload: c.payload,
            qos: 2,
            retain: true,
            expiresAt: c.expiresAt,
            origin: "ü",
            properties: {
              payloadFormatIndicator: 0,
              correlationData: c.correlationData,
              userProperties: c.userProperties,
              responseTopic: "re/ply",
              subscriptionIdentifiers: [1, 268435455],
              ...(c.contentType === undefined ? {} : { contentType: c.contentType }),
            },
          };
          const id = box.store.addMessage(m);
          box.store.enqueue("a", delivery(id));
          stored.push([id, m]);
        }
        // A Buffer slice of a bigger buffer goes in; only its bytes come out.
        const big = Buffer.from("xxhelloxx");
        const sliced = message("slice", new Uint8Array(big.buffer, big.byteOffset + 2, 5));
        const sid = box.store.addMessage(sliced);
        box.store.setRetained("slice", sid);
        const check = async () => {
          for (const [id, m] of stored) {
            const got = await box.store.getMessage(id);
            assert.deepEqual(got, m);
            assert.ok(got!.payload instanceof Uint8Array);
          }
          const got = await box.store.getMessage(sid);
          assert.deepEqual(Buffer.from(got!.payload).toString(), "hello");
        };
        await check();
        await box.store.commit();
        await check();
        if (h.reopen) {
          box.store = await h.reopen(box.store);
          await check();
        }
      });
    });

    it("bytes round-trips through enqueue, readQueue and in flight (with and without subscription ids)", async () => {
      await withStore(h, async (box) => {
        const id = box.store.addMessage(message("b"));
        const deliveries: StoredDelivery[] = [
          { ...delivery(id), bytes: 0 },
          { ...delivery(id), bytes: 1234, subscriptionIds: [1, 268435455] },
          { ...delivery(id, 2), subscriptionIds: [3] },
          delivery(id, 0),
          { ...delivery(id), bytes: 2 ** 40 },
        ];
        const seqs = deliveries.map((d) => box.store.enqueue("a", d));
        const flights: StoredInflight[] = [
          { ...inflight(id, 1, 1), bytes: 77 },
          { ...inflight(id, 2, 2), bytes: 0, subscriptionIds: [9] },
          { ...inflight(id, 3, 3), subscriptionIds: [9] },
          inflight(id, 4, 4),
        ];
        for (const f of flights) box.store.putInflight("a", f);
        const check = async (when: string) => {
          assert.deepEqual(
            await box.store.readQueue("a", 0, 10),
            seqs.map((seq, i) => ({ seq, delivery: deliveries[i] })),
            `queue ${when}`,
          );
          assert.deepEqual(await box.store.listInflight("a"), flights, `in flight ${when}`);
          assert.deepEqual(await box.store.queueSize("a"), {
            length: 5,
            bytes: 1234 + 2 ** 40,
          });
        };
        await check("staged");
        await box.store.commit();
        await check("committed");
        if (h.reopen) {
          box.store = await h.reopen(box.store);
          await check("after reopen");
        }
      });
    });

    it("queueSize: staged and committed entries, after dequeues and after deleteSession", async () => {
      await withStore(h, async (box) => {
        const size = (clientId = "a") => box.store.queueSize(clientId);
        assert.deepEqual(await size(), { length: 0, bytes: 0 });
        const id = box.store.addMessage(message("s"));
        const sa = box.store.enqueue("a", { ...delivery(id), bytes: 10 });
        box.store.enqueue("a", { ...delivery(id), bytes: 20 });
        const sc = box.store.enqueue("a", delivery(id)); // no bytes: counts 0
        box.store.enqueue("ab", { ...delivery(id), bytes: 1000 });
        assert.deepEqual(await size(), { length: 3, bytes: 30 }, "staged");
        await box.store.commit();
        assert.deepEqual(await size(), { length: 3, bytes: 30 }, "committed");
        const sd = box.store.enqueue("a", { ...delivery(id), bytes: 5 });
        box.store.dequeue("a", sa); // committed
        box.store.dequeue("a", sa); // again: no-op
        box.store.dequeue("a", 999_999); // never queued: no-op
        assert.deepEqual(await size(), { length: 3, bytes: 25 }, "staged on committed");
        await box.store.commit();
        assert.deepEqual(await size(), { length: 3, bytes: 25 });
        assert.deepEqual(await size("ab"), { length: 1, bytes: 1000 }, "a's neighbour");
        assert.deepEqual(await size("b"), { length: 0, bytes: 0 });
        if (h.reopen) {
          box.store = await h.reopen(box.store);
          assert.equal(await box.store.queueLength("a"), 3, "length known first, then bytes");
          assert.deepEqual(await size(), { length: 3, bytes: 25 }, "after reopen");
        }
        box.store.dequeue("a", sc);
        box.store.dequeue("a", sd); // dequeued while its enqueue is committed, not staged
        assert.deepEqual(await size(), { length: 1, bytes: 20 }, "after dequeues");
        box.store.deleteSession("a");
        assert.deepEqual(await size(), { length: 0, bytes: 0 }, "deleted, staged");
        box.store.enqueue("a", { ...delivery(id), bytes: 7 });
        assert.deepEqual(await size(), { length: 1, bytes: 7 }, "a new queue, staged");
        await box.store.commit();
        assert.deepEqual(await size(), { length: 1, bytes: 7 }, "a new queue, committed");
        if (h.reopen) {
          box.store = await h.reopen(box.store);
          assert.deepEqual(await size(), { length: 1, bytes: 7 }, "a new queue, reopened");
        }
        assert.deepEqual(await size("ab"), { length: 1, bytes: 1000 });
      });
    });

    it("listRetained gives the ids given to setRetained; a new queue entry refers to one without storing it again", async () => {
      await withStore(h, async (box) => {
        const r1 = box.store.addMessage({ ...message("r/1"), retain: true });
        const r2 = box.store.addMessage({ ...message("r/2"), retain: true });
        box.store.setRetained("r/1", r1);
        box.store.setRetained("r/2", r2);
        const expected = [
          { topic: "r/1", messageId: r1, message: { ...message("r/1"), retain: true } },
          { topic: "r/2", messageId: r2, message: { ...message("r/2"), retain: true } },
        ];
        assert.deepEqual(await box.store.listRetained(), expected, "staged");
        await box.store.commit();
        if (h.reopen) box.store = await h.reopen(box.store);
        const listed = await box.store.listRetained();
        assert.deepEqual(listed, expected);
        assert.equal((await box.store.summary()).storedMessages, 2);
        // A subscriber gets the retained message queued: by id, no new message.
        const seq = box.store.enqueue("a", { ...delivery(listed[0].messageId), bytes: 3 });
        box.store.putInflight("b", inflight(listed[1].messageId, 1, 1));
        await box.store.commit();
        assert.equal((await box.store.summary()).storedMessages, 2, "stored once");
        const [entry] = await box.store.readQueue("a", 0, 1);
        assert.equal(entry.delivery.messageId, r1);
        assert.deepEqual(await box.store.getMessage(entry.delivery.messageId), expected[0].message);
        // The topic is cleared: the queue entry keeps the message.
        box.store.setRetained("r/1", undefined);
        await box.store.commit();
        assert.deepEqual(await box.store.getMessage(r1), expected[0].message);
        assert.equal((await box.store.summary()).storedMessages, 2);
        box.store.dequeue("a", seq);
        box.store.deleteInflight("b", 1);
        await box.store.commit();
        assert.equal(await box.store.getMessage(r1), undefined);
        const summary = await box.store.summary();
        assert.equal(summary.storedMessages, 1, "r/2 is still retained");
        assert.equal(summary.retainedMessages, 1);
      });
    });

    it(`deleteSession of a ${h.longQueue ?? 20_000}-entry queue: a new session with the same id sees only its own entries; messages go once the deletion is done`, async () => {
      await withStore(h, async (box) => {
        const big = h.longQueue ?? 20_000;
        const session0 = session("a", { expiryInterval: 1 });
        box.store.putSession(session0);
        box.store.putSession(session("ab"));
        const shared = box.store.addMessage(message("shared"));
        box.store.enqueue("ab", delivery(shared));
        const retained = box.store.addMessage(message("kept"));
        box.store.setRetained("kept", retained);
        const old: number[] = [];
        for (let i = 0; i < big; i += 10) {
          const id = box.store.addMessage(message(`old/${i}`)); // 2,000 messages, 10 entries each
          for (let j = 0; j < 10; j++) {
            old.push(box.store.enqueue("a", { ...delivery(id), bytes: 3 }));
          }
        }
        old.push(
          box.store.enqueue("a", delivery(shared)),
          box.store.enqueue("a", delivery(retained)),
        );
        box.store.putInflight("a", inflight(shared, 1, 1));
        box.store.addInboundQos2("a", 2);
        await box.store.commit();
        assert.equal(await box.store.queueLength("a"), big + 2);
        assert.equal((await box.store.summary()).storedMessages, 2 + big / 10);

        // Deleted, and the client is straight back (a clean start).
        box.store.deleteSession("a");
        box.store.putSession(session("a"));
        const fresh = box.store.addMessage(message("new"));
        const newEntries = [
          {
            seq: box.store.enqueue("a", { ...delivery(fresh), bytes: 3 }),
            delivery: { ...delivery(fresh), bytes: 3 },
          },
          { seq: box.store.enqueue("a", delivery(shared)), delivery: delivery(shared) },
        ];
        const check = async (when: string) => {
          const store = box.store;
          assert.deepEqual(await store.readQueue("a", 0, 100), newEntries, `queue ${when}`);
          assert.deepEqual(await store.readQueue("a", 0, 1), newEntries.slice(0, 1), when);
          assert.deepEqual(await store.readQueue("a", old[5], 1), newEntries.slice(0, 1), when);
          assert.deepEqual(await store.readQueue("a", newEntries[0].seq, 5), newEntries.slice(1));
          assert.equal(await store.queueLength("a"), 2, `length ${when}`);
          const bytes = newEntries.reduce((n, e) => n + (e.delivery.bytes ?? 0), 0);
          assert.deepEqual(await store.queueSize("a"), { length: 2, bytes }, `size ${when}`);
          assert.deepEqual(await store.listInflight("a"), [], when);
          assert.deepEqual(await store.listInboundQos2("a"), [], when);
          assert.deepEqual(await store.getSession("a"), session("a"), when);
          assert.equal(await store.queueLength("ab"), 1, `a's neighbour ${when}`);
        };
        await check("staged");
        // Dequeuing an entry of the deleted session changes nothing.
        box.store.dequeue("a", old[0]);
        box.store.dequeue("a", old[old.length - 1]);
        await check("after dequeuing old seqs");
        await box.store.commit();
        await check("committed");
        const summary = await box.store.summary();
        assert.equal(summary.queuedMessages, 3, "the deleted entries are not counted");
        assert.equal(summary.inflightMessages, 0);
        assert.equal(summary.sessions, 2);
        box.store.dequeue("a", old[big - 1]); // still on disk (removed last)
        await check("after dequeuing an old seq, committed deletion");
        if (h.reopen) {
          box.store = await h.reopen(box.store);
          await check("after reopen");
          assert.equal((await box.store.summary()).queuedMessages, 3);
        }
        // New entries meanwhile, and one dequeued.
        const third = {
          seq: box.store.enqueue("a", { ...delivery(fresh), bytes: 4 }),
          delivery: { ...delivery(fresh), bytes: 4 },
        };
        box.store.dequeue("a", newEntries[1].seq);
        newEntries.splice(1, 1, third);
        assert.deepEqual(await box.store.readQueue("a", 0, 100), newEntries);
        assert.deepEqual(await box.store.queueSize("a"), { length: 2, bytes: 7 });
        await finishDeletions(box.store);
        await check("deletion finished");
        const done = await box.store.summary();
        assert.equal(done.pendingDeletions, 0);
        assert.equal(done.storedMessages, 3, "fresh, shared (ab's) and retained");
        assert.equal(done.queuedMessages, 3);
        assert.ok(await box.store.getMessage(retained));
        if (h.reopen) {
          box.store = await h.reopen(box.store);
          await check("deletion finished, reopened");
        }
      });
    });

    it("deleteSession again before the deletion of a long queue finished; reads see only the newest session", async () => {
      await withStore(h, async (box) => {
        const id = box.store.addMessage(message("m"));
        const long = h.longQueue ?? 20_000;
        for (let i = 0; i < long; i++) box.store.enqueue("a", delivery(id));
        await box.store.commit();
        box.store.deleteSession("a");
        const second = box.store.addMessage(message("second"));
        for (let i = 0; i < long / 4; i++) box.store.enqueue("a", delivery(second));
        await box.store.commit();
        assert.equal(await box.store.queueLength("a"), long / 4);
        if (h.reopen) box.store = await h.reopen(box.store);
        box.store.deleteSession("a");
        assert.equal(await box.store.queueLength("a"), 0);
        const third = box.store.addMessage(message("third"));
        const seq = box.store.enqueue("a", { ...delivery(third), bytes: 1 });
        await box.store.commit();
        const expected = [{ seq, delivery: { ...delivery(third), bytes: 1 } }];
        assert.deepEqual(await box.store.readQueue("a", 0, 10), expected);
        assert.deepEqual(await box.store.queueSize("a"), { length: 1, bytes: 1 });
        if (h.reopen) box.store = await h.reopen(box.store);
        assert.deepEqual(await box.store.readQueue("a", 0, 10), expected);
        await finishDeletions(box.store);
        assert.deepEqual(await box.store.readQueue("a", 0, 10), expected);
        const summary = await box.store.summary();
        assert.equal(summary.storedMessages, 1);
        assert.equal(summary.queuedMessages, 1);
        assert.equal(await box.store.getMessage(id), undefined);
        assert.equal(await box.store.getMessage(second), undefined);
      });
    });

    it("a closed store refuses calls", async () => {
      const store = await h.create();
      await store.close();
      await store.close(); // twice is fine
      assert.throws(() => store.addMessage(message("x")), { code: "STORE_CLOSED" });
      await assert.rejects(store.getSession("a"), { code: "STORE_CLOSED" });
      await assert.rejects(store.commit(), { code: "STORE_CLOSED" });
    });

    it("property: after random operations and a commit, the store equals a model of it", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(operation, { minLength: 1, maxLength: 60, size: "max" }),
          async (ops) => {
            const box = { store: await h.create() };
            try {
              const model = new Model();
              const unawaited: Promise<void>[] = [];
              for (const op of ops) {
                if (op.kind === "commit") {
                  await box.store.commit();
                  model.commit();
                } else if (op.kind === "commitNoWait") {
                  // Staging goes on while this commit is written.
                  unawaited.push(box.store.commit());
                  model.commit();
                } else if (op.kind === "check") {
                  await expectEqual(box.store, model, false);
                  // A commit under way may have cut a batch meanwhile.
                  model.commit();
                } else apply(box.store, model, op);
              }
              await Promise.all(unawaited);
              await box.store.commit();
              model.commit();
              if (h.reopen) {
                // Perhaps in the middle of deleting a queue.
                await expectEqual(box.store, model, false);
                box.store = await h.reopen(box.store);
              }
              await expectEqual(box.store, model, true);
              if (h.reopen) {
                box.store = await h.reopen(box.store);
                await expectEqual(box.store, model, true);
              }
            } finally {
              await box.store.close();
            }
          },
        ),
        { numRuns: h.reopen ? 40 : 150, seed: SEED },
      );
    });

    if (h.reopen !== undefined) {
      const reopen = h.reopen;

      it("everything committed is there after close and reopen", async () => {
        await withStore(h, async (box) => {
          const will = { topic: "w", payload: new Uint8Array([1]), qos: 0 as const, retain: false };
          box.store.putSession(session("a", { will, disconnectedAt: 42 }));
          const m1 = box.store.addMessage(message("m1"));
          const m2 = box.store.addMessage(message("m2"));
          const s1 = box.store.enqueue("a", delivery(m1));
          const s2 = box.store.enqueue("a", { ...delivery(m2), subscriptionIds: [3] });
          box.store.putInflight("a", inflight(m2, 10, 1));
          box.store.addInboundQos2("a", 77);
          box.store.setRetained("m1", m1);
          await box.store.commit();
          box.store.enqueue("b", delivery(m1)); // staged: close() commits it
          box.store = await reopen(box.store);
          const store = box.store;
          assert.deepEqual(await store.getSession("a"), session("a", { will, disconnectedAt: 42 }));
          assert.deepEqual(await store.readQueue("a", 0, 10), [
            { seq: s1, delivery: delivery(m1) },
            { seq: s2, delivery: { ...delivery(m2), subscriptionIds: [3] } },
          ]);
          assert.equal(await store.queueLength("b"), 1);
          assert.deepEqual(await store.listInflight("a"), [inflight(m2, 10, 1)]);
          assert.deepEqual(await store.listInboundQos2("a"), [77]);
          assert.deepEqual(await store.listRetained(), [
            { topic: "m1", messageId: m1, message: message("m1") },
          ]);
          assert.deepEqual(await store.getMessage(m2), message("m2"));
          const summary = await store.summary();
          assert.deepEqual(
            { ...summary, sizeBytes: 0 },
            {
              sessions: 1,
              queuedMessages: 3,
              inflightMessages: 1,
              retainedMessages: 1,
              storedMessages: 2,
              pendingDeletions: 0,
              sizeBytes: 0,
              formatVersion: 2,
            },
          );
          assert.ok(summary.sizeBytes > 0);
        });
      });

      it("message ids and seqs continue after reopen (no reuse, even of deleted ones)", async () => {
        await withStore(h, async (box) => {
          const kept = box.store.addMessage(message("kept"));
          box.store.enqueue("a", delivery(kept));
          const last = box.store.addMessage(message("dropped")); // never referenced
          const seq = box.store.enqueue("a", delivery(kept));
          box.store.dequeue("a", seq);
          await box.store.commit();
          assert.equal(await box.store.getMessage(last), undefined);
          box.store = await reopen(box.store);
          const next = box.store.addMessage(message("next"));
          const nextSeq = box.store.enqueue("b", delivery(next));
          assert.ok(next > last, `message id ${next} after ${last}`);
          assert.ok(nextSeq > seq, `seq ${nextSeq} after ${seq}`);
          await box.store.commit();
          box.store = await reopen(box.store);
          assert.ok(box.store.addMessage(message("again")) > next);
          assert.ok(box.store.enqueue("b", delivery(next)) > nextSeq);
        });
      });
    }
  });
}

// ---- the model of the property test ----------------------------------------------------

type Op =
  | { kind: "commit" }
  | { kind: "commitNoWait" }
  | { kind: "check" }
  | { kind: "putSession"; client: number; expiry: number }
  | { kind: "deleteSession"; client: number }
  | { kind: "publish"; to: number[]; retain: number | null; payload: Uint8Array; sized: boolean }
  | { kind: "addOnly" }
  | { kind: "dequeue"; client: number; pick: number; missing: boolean }
  | { kind: "deliver"; client: number; packetId: number; order: number }
  | {
      kind: "putInflight";
      client: number;
      packetId: number;
      order: number;
      pubrel: boolean;
      pick: number;
    }
  | { kind: "deleteInflight"; client: number; packetId: number }
  | { kind: "inbound"; client: number; packetId: number; add: boolean }
  | { kind: "retain"; topic: number; pick: number | null };

const client = fc.nat({ max: CLIENTS.length - 1 });
const topic = fc.nat({ max: TOPICS.length - 1 });
const packetId = fc.integer({ min: 1, max: 6 });
const operation: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: "commit" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "commitNoWait" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "check" as const }) },
  fc.record({ kind: fc.constant("putSession" as const), client, expiry: fc.nat() }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("deleteSession" as const), client }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("publish" as const),
      to: fc.uniqueArray(client, { maxLength: 3 }),
      retain: fc.option(topic, { nil: null }),
      payload: fc.uint8Array({ maxLength: 16 }),
      sized: fc.boolean(),
    }),
  },
  fc.constant({ kind: "addOnly" as const }),
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("dequeue" as const),
      client,
      pick: fc.nat(),
      missing: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("deliver" as const),
      client,
      packetId,
      order: fc.nat(20),
    }),
  },
  fc.record({
    kind: fc.constant("putInflight" as const),
    client,
    packetId,
    order: fc.nat(20),
    pubrel: fc.boolean(),
    pick: fc.nat(),
  }),
  fc.record({ kind: fc.constant("deleteInflight" as const), client, packetId }),
  fc.record({ kind: fc.constant("inbound" as const), client, packetId, add: fc.boolean() }),
  fc.record({
    kind: fc.constant("retain" as const),
    topic,
    pick: fc.option(fc.nat(), { nil: null }),
  }),
);

class Model {
  sessions = new Map<string, StoredSession>();
  queues = new Map<string, { seq: number; delivery: StoredDelivery }[]>();
  inflight = new Map<string, Map<number, StoredInflight>>();
  inbound = new Map<string, Set<number>>();
  retained = new Map<string, number>();
  messages = new Map<number, StoredMessage>();
  /** Ids added since the last commit (may be referenced until then even if unreferenced now). */
  fresh = new Set<number>();
  /** Ids that were dropped (must not be readable). */
  dropped = new Set<number>();

  referenced(): Set<number> {
    const ids = new Set<number>();
    for (const q of this.queues.values()) for (const e of q) ids.add(e.delivery.messageId);
    for (const m of this.inflight.values()) for (const e of m.values()) ids.add(e.messageId);
    for (const id of this.retained.values()) ids.add(id);
    return ids;
  }

  /** Ids a new reference may use: referenced ones and those added in this batch. */
  usable(): number[] {
    return [...new Set([...this.referenced(), ...this.fresh])].sort((a, b) => a - b);
  }

  commit(): void {
    const live = this.referenced();
    for (const id of this.messages.keys()) {
      if (!live.has(id)) {
        this.messages.delete(id);
        this.dropped.add(id);
      }
    }
    this.fresh.clear();
  }
}

function apply(store: Store, model: Model, op: Op): void {
  const add = (m: StoredMessage) => {
    const id = store.addMessage(m);
    model.messages.set(id, m);
    model.fresh.add(id);
    return id;
  };
  const enqueue = (clientId: string, d: StoredDelivery) => {
    const seq = store.enqueue(clientId, d);
    const q = model.queues.get(clientId) ?? [];
    q.push({ seq, delivery: d });
    model.queues.set(clientId, q);
  };
  const putInflight = (clientId: string, e: StoredInflight) => {
    store.putInflight(clientId, e);
    const m = model.inflight.get(clientId) ?? new Map<number, StoredInflight>();
    m.set(e.packetId, e);
    model.inflight.set(clientId, m);
  };
  switch (op.kind) {
    case "putSession": {
      const s = session(CLIENTS[op.client], { expiryInterval: op.expiry });
      store.putSession(s);
      model.sessions.set(s.clientId, s);
      return;
    }
    case "deleteSession": {
      const id = CLIENTS[op.client];
      store.deleteSession(id);
      model.sessions.delete(id);
      model.queues.delete(id);
      model.inflight.delete(id);
      model.inbound.delete(id);
      return;
    }
    case "publish": {
      const topicName = op.retain === null ? "p" : TOPICS[op.retain];
      const id = add({ ...message(topicName, op.payload), retain: op.retain !== null });
      const d = op.sized ? { ...delivery(id, 2), bytes: op.payload.length } : delivery(id, 2);
      for (const c of op.to) enqueue(CLIENTS[c], d);
      if (op.retain !== null) {
        store.setRetained(topicName, id);
        model.retained.set(topicName, id);
      }
      return;
    }
    case "addOnly":
      add(message("unreferenced"));
      return;
    case "dequeue": {
      const id = CLIENTS[op.client];
      const q = model.queues.get(id) ?? [];
      if (op.missing || q.length === 0) {
        store.dequeue(id, 10_000_000 + op.pick);
        return;
      }
      const [entry] = q.splice(op.pick % q.length, 1);
      store.dequeue(id, entry.seq);
      return;
    }
    case "deliver": {
      const id = CLIENTS[op.client];
      const q = model.queues.get(id) ?? [];
      if (q.length === 0) return;
      const head = q.shift()!;
      store.dequeue(id, head.seq);
      const e: StoredInflight = {
        ...inflight(head.delivery.messageId, op.packetId, op.order),
        qos: 2,
      };
      if (head.delivery.bytes !== undefined) e.bytes = head.delivery.bytes;
      putInflight(id, e);
      return;
    }
    case "putInflight": {
      const usable = model.usable();
      const messageId = usable.length === 0 ? add(message("f")) : usable[op.pick % usable.length];
      const e = inflight(messageId, op.packetId, op.order);
      putInflight(CLIENTS[op.client], op.pubrel ? { ...e, state: "pubrel" } : e);
      return;
    }
    case "deleteInflight": {
      const id = CLIENTS[op.client];
      store.deleteInflight(id, op.packetId);
      model.inflight.get(id)?.delete(op.packetId);
      return;
    }
    case "inbound": {
      const id = CLIENTS[op.client];
      const set = model.inbound.get(id) ?? new Set<number>();
      model.inbound.set(id, set);
      if (op.add) {
        store.addInboundQos2(id, op.packetId);
        set.add(op.packetId);
      } else {
        store.deleteInboundQos2(id, op.packetId);
        set.delete(op.packetId);
      }
      return;
    }
    case "retain": {
      const name = TOPICS[op.topic];
      const usable = model.usable();
      if (op.pick === null || usable.length === 0) {
        store.setRetained(name, undefined);
        model.retained.delete(name);
      } else {
        const id = usable[op.pick % usable.length];
        store.setRetained(name, id);
        model.retained.set(name, id);
      }
      return;
    }
  }
}

/** Compares everything observable; `committed`: also that exactly the referenced messages are kept. */
async function expectEqual(store: Store, model: Model, committed: boolean): Promise<void> {
  assert.deepEqual(
    (await store.listSessions()).sort(byClientId),
    [...model.sessions.values()].sort(byClientId),
  );
  for (const id of CLIENTS) {
    const q = model.queues.get(id) ?? [];
    assert.deepEqual(await store.readQueue(id, 0, 1000), q, `queue of ${id.slice(0, 8)}`);
    assert.equal(await store.queueLength(id), q.length);
    assert.deepEqual(await store.queueSize(id), {
      length: q.length,
      bytes: q.reduce((n, e) => n + (e.delivery.bytes ?? 0), 0),
    });
    if (q.length > 2) {
      assert.deepEqual(await store.readQueue(id, q[0].seq, 2), q.slice(1, 3), "a page");
    }
    const inflightEntries = [...(model.inflight.get(id)?.values() ?? [])].sort(
      (a, b) => a.order - b.order || a.packetId - b.packetId,
    );
    assert.deepEqual(await store.listInflight(id), inflightEntries);
    assert.deepEqual(
      await store.listInboundQos2(id),
      [...(model.inbound.get(id) ?? [])].sort((a, b) => a - b),
    );
  }
  const retained = [...model.retained]
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([topicName, id]) => ({
      topic: topicName,
      messageId: id,
      message: model.messages.get(id)!,
    }));
  assert.deepEqual(await store.listRetained(), retained);
  for (const id of model.referenced()) {
    assert.deepEqual(await store.getMessage(id), model.messages.get(id), `message ${id}`);
  }
  if (committed) {
    await finishDeletions(store);
    for (const id of model.dropped)
      assert.equal(await store.getMessage(id), undefined, `dropped ${id}`);
    const summary = await store.summary();
    assert.equal(summary.storedMessages, model.referenced().size);
    assert.equal(summary.sessions, model.sessions.size);
    assert.equal(
      summary.queuedMessages,
      [...model.queues.values()].reduce((n, q) => n + q.length, 0),
    );
    assert.equal(summary.retainedMessages, model.retained.size);
  }
}
