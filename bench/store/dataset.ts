/**
 * Data directories for the startup scenario, written straight through the
 * store API (`LmdbStore`), as a broker would have left them: built afresh on
 * every run (no cache), and timed.
 *
 * - retained: `count` retained messages on `bench/r/<i>`;
 * - queued: `sessions` offline persistent 3.1.1 sessions `bench-q-<s>`, each
 *   subscribed to `bench/q/<s>` at QoS 1 and never expiring, each with
 *   `perSession` QoS 1 messages queued (one stored message per entry).
 *
 * Payloads are 64 bytes; writes are committed every `batch` messages.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LmdbStore } from "../../src/broker/store/lmdb.js";
import type { StoredMessage } from "../../src/broker/store/types.js";

export interface Built {
  dir: string;
  /** Time to write and close the store, ms. */
  buildMs: number;
  /** Bytes the directory takes on disk (allocated blocks). */
  diskBytes: number;
}

const PAYLOAD = new Uint8Array(64).fill(0x62);
/** 3.1.x persistent sessions with `persistent_session_expiry = 0` never expire. */
const NEVER_EXPIRES = 0xffff_ffff;

function message(topic: string, retain: boolean): StoredMessage {
  return { topic, payload: PAYLOAD, qos: 1, retain, expiresAt: 0, origin: "bench" };
}

/** Allocated bytes of the files in `dir` (LMDB files can be sparse). */
export function diskBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) n += statSync(join(dir, name)).blocks * 512;
  return n;
}

export async function buildRetained(dir: string, count: number, batch: number): Promise<Built> {
  const t0 = performance.now();
  const store = await LmdbStore.open(dir, { sync: "relaxed" });
  try {
    for (let i = 0; i < count; i++) {
      const topic = `bench/r/${i}`;
      store.setRetained(topic, store.addMessage(message(topic, true)));
      if ((i + 1) % batch === 0) await store.commit();
    }
  } finally {
    await store.close();
  }
  return { dir, buildMs: performance.now() - t0, diskBytes: diskBytes(dir) };
}

export async function buildQueued(
  dir: string,
  sessions: number,
  perSession: number,
  batch: number,
): Promise<Built> {
  const t0 = performance.now();
  const store = await LmdbStore.open(dir, { sync: "relaxed" });
  const now = Date.now();
  let staged = 0;
  try {
    for (let s = 0; s < sessions; s++) {
      const clientId = `bench-q-${s}`;
      const topic = `bench/q/${s}`;
      store.putSession({
        clientId,
        version: 4,
        expiryInterval: NEVER_EXPIRES,
        subscriptions: [
          { filter: topic, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        ],
        disconnectedAt: now,
      });
      for (let i = 0; i < perSession; i++) {
        // `bytes` (the payload size kept with the entry) is read by stores that know it, ignored by older ones.
        const delivery = {
          messageId: store.addMessage(message(topic, false)),
          qos: 1 as const,
          retain: false,
          bytes: PAYLOAD.length,
        };
        store.enqueue(clientId, delivery);
        if (++staged % batch === 0) await store.commit();
      }
    }
  } finally {
    await store.close();
  }
  return { dir, buildMs: performance.now() - t0, diskBytes: diskBytes(dir) };
}
