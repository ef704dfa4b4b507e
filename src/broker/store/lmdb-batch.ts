/**
 * The staged changes of the LMDB store: one {@link Batch} collects what the
 * mutating calls did since the last commit; reads look through the batches
 * not yet in the database (the one being staged, and the one being written)
 * before the database itself, so they see every change at once.
 *
 * A batch holds no reference counts: they are worked out when the batch is
 * written, from what the write actually replaces or removes in the database,
 * so a key changed several times in a batch, or a session deleted after
 * changes to its queue, is never counted twice.
 */
import type { StoredDelivery, StoredInflight, StoredMessage, StoredSession } from "./types.js";

/** Per-client entries keyed by seq or packet id; null marks a removal. */
type ClientEntries<V> = Map<string, Map<number, V | null>>;

export class Batch {
  /** Number of staged operations (0: nothing to write). */
  ops = 0;
  /** Sessions put or (null) deleted. */
  readonly sessions = new Map<string, StoredSession | null>();
  /**
   * Clients deleted in this batch, with their queue floor (the first seq not
   * handed out at the deletion): every queue, in-flight and inbound entry of
   * theirs in older batches and the database is gone. Entries of the client
   * in this batch's maps were staged after the deletion.
   */
  readonly cleared = new Map<string, number>();
  readonly queues: ClientEntries<StoredDelivery> = new Map();
  readonly inflight: ClientEntries<StoredInflight> = new Map();
  readonly inbound: ClientEntries<true> = new Map();
  /** Retained message id by topic; null clears. */
  readonly retained = new Map<string, number | null>();
  /** Messages added in this batch (written only if referenced at commit). */
  readonly messages = new Map<number, StoredMessage>();

  get empty(): boolean {
    return this.ops === 0;
  }

  static entries<V>(map: ClientEntries<V>, clientId: string): Map<number, V | null> {
    let entries = map.get(clientId);
    if (entries === undefined) {
      entries = new Map();
      map.set(clientId, entries);
    }
    return entries;
  }

  /** Forgets this batch's entries of a client and marks everything older of it (every seq below `floor`) removed. */
  clearClient(clientId: string, floor: number): void {
    this.queues.delete(clientId);
    this.inflight.delete(clientId);
    this.inbound.delete(clientId);
    this.cleared.set(clientId, floor);
  }
}

/**
 * What the batches (oldest first) say about one client's entries of one kind:
 * the merged entries (null: removed) and whether the database's entries are
 * hidden altogether (the client was deleted in one of the batches).
 */
export function overlay<V>(
  batches: readonly Batch[],
  pick: (b: Batch) => ClientEntries<V>,
  clientId: string,
): { entries: Map<number, V | null>; hideDb: boolean } {
  let entries = new Map<number, V | null>();
  let hideDb = false;
  for (const b of batches) {
    if (b.cleared.has(clientId)) {
      entries = new Map();
      hideDb = true;
    }
    const own = pick(b).get(clientId);
    if (own !== undefined) for (const [k, v] of own) entries.set(k, v);
  }
  return { entries, hideDb };
}

/** Point lookup through the batches (newest first): the staged value, null if removed, undefined if not staged. */
export function staged<V>(
  newestFirst: readonly Batch[],
  pick: (b: Batch) => ClientEntries<V>,
  clientId: string,
  key: number,
): V | null | undefined {
  for (const b of newestFirst) {
    const own = pick(b).get(clientId);
    if (own?.has(key)) return own.get(key) ?? null;
    if (b.cleared.has(clientId)) return null;
  }
  return undefined;
}
