/**
 * Where the client keeps outgoing QoS 1/2 messages until they are
 * acknowledged: queued while offline or beyond the broker's Receive Maximum,
 * and in flight. Memory by default; a persistent store lets a restarted
 * process resend what it had not delivered.
 */
import type { PublishPacket } from "../protocol/index.js";

export interface StoredPublish {
  /** Local sequence number: order of publication. */
  seq: number;
  packet: PublishPacket;
  /** `queued` (not sent on this connection), `publish` (sent, awaiting PUBACK/PUBREC), `pubrel` (awaiting PUBCOMP). */
  state: "queued" | "publish" | "pubrel";
}

export interface ClientStore {
  put(entry: StoredPublish): void | Promise<void>;
  delete(seq: number): void | Promise<void>;
  /** Every entry, in `seq` order. */
  list(): StoredPublish[] | Promise<StoredPublish[]>;
}

/** The default store: a Map in memory (lost with the process). */
export class MemoryClientStore implements ClientStore {
  #entries = new Map<number, StoredPublish>();
  put(entry: StoredPublish): void {
    this.#entries.set(entry.seq, entry);
  }
  delete(seq: number): void {
    this.#entries.delete(seq);
  }
  list(): StoredPublish[] {
    return [...this.#entries.values()].sort((a, b) => a.seq - b.seq);
  }
}
