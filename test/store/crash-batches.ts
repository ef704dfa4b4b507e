/** The batches crash-writer.ts commits and store-crash.test.ts checks. */
import type { StoredDelivery, StoredMessage } from "../../src/broker/store/types.js";

/** Messages in batch n (1..40). */
export function batchSize(n: number): number {
  return 1 + ((n * 7919) % 40);
}

/** Payload of message i of batch n: recognisable, and 100..1100 bytes long. */
export function payloadOf(n: number, i: number): Uint8Array {
  const head = `${n}:${i}:`;
  const out = new Uint8Array(100 + ((n * 31 + i * 17) % 1000));
  out.set(new TextEncoder().encode(head));
  for (let j = head.length; j < out.length; j++) out[j] = (n + i + j) & 0xff;
  return out;
}

export function progressMessage(n: number): StoredMessage {
  return {
    topic: "progress",
    payload: new TextEncoder().encode(String(n)),
    qos: 1,
    retain: true,
    expiresAt: 0,
    origin: "",
  };
}

export function batchMessage(n: number, i: number): StoredMessage {
  return {
    topic: `b/${n}/${i}`,
    payload: payloadOf(n, i),
    qos: 1,
    retain: false,
    expiresAt: 0,
    origin: "w",
  };
}

/** Entries in the long queue crash-writer.ts deletes (10 per message). */
export const BIG_QUEUE = 60_000;

/** Message k of the long queue (entries 10k..10k+9). */
export function bigMessage(k: number): StoredMessage {
  return { ...batchMessage(0, k), topic: `big/${k}` };
}

/** Message i of the new session's queue. */
export function newBigMessage(i: number): StoredMessage {
  return { ...batchMessage(0, i), topic: `new/${i}` };
}

/** A queue entry for message `messageId`, which is `m`. */
export function bigDelivery(messageId: number, m: StoredMessage): StoredDelivery {
  return { messageId, qos: 1, retain: false, bytes: m.payload.length };
}
