/**
 * `LmdbStore`: the durable {@link Store}, on LMDB (the `lmdb` package, which
 * ships prebuilt binaries: no server, nothing to compile).
 *
 * ## Files
 * `DIR/starling.mdb` (the database), `DIR/starling.mdb-lock` (LMDB's reader
 * table), `DIR/starling.lock` (the pid owning the directory, see `dir-lock.ts`).
 *
 * ## Keyspace, format 1
 * Named LMDB databases in one environment, so that one transaction covers all
 * of them (keys and values are described in `lmdb-codec.ts`):
 *
 * | database   | key                          | value                                   |
 * |------------|------------------------------|-----------------------------------------|
 * | `meta`     | `"format"`, `"counters"`     | `{ format: 1 }`; `[nextMessageId, nextSeq]` |
 * | `sessions` | client                       | the session (a map)                     |
 * | `messages` | message id (u64)             | `[topic, payload, qos, retain, expiresAt, origin, properties?]` |
 * | `refs`     | message id (u64)             | number of queue, in-flight and retained entries referring to it |
 * | `queue`    | client, seq (u64)            | `[messageId, qos, retain, subscriptionIds?]` |
 * | `inflight` | client, packet id (u16)      | `[messageId, qos, retain, packetId, 0 publish / 1 pubrel, order, subscriptionIds?]` |
 * | `inbound`  | client, packet id (u16)      | `true`                                  |
 * | `retained` | topic                        | `[topic, messageId]`                    |
 *
 * A client's queue is one contiguous key range ordered by seq, so `readQueue`
 * is a range scan that stops after `limit` entries; nothing loads a whole
 * queue into memory. Message ids and seqs come from two counters (seqs are
 * shared by all clients: increasing per client, not contiguous), written in
 * every commit, so they continue after a restart and never reuse a number.
 *
 * ## Group commit
 * Mutating calls only stage into an in-memory batch (`lmdb-batch.ts`); reads
 * look through the staged batches, then the database. `commit()` hands the
 * batch to ONE LMDB transaction (a child transaction, so that an exception
 * while writing rolls the whole batch back) and resolves when it is
 * committed and, in `full` mode, flushed. `commit()` calls made while a
 * write is under way all wait for the next batch, which is written as soon
 * as the current one is done: however many calls, one transaction and one
 * sync at a time. Reference counts are worked out inside the transaction
 * from what it replaces and removes (`lmdb-write.ts`); a message is written
 * only if referred to at commit, and removed with its last reference. After
 * a failed commit the store rejects every later commit (its state in memory
 * no longer matches the disk): close it and open it again.
 *
 * ## Sync modes
 * The environment always runs with lmdb-js `overlappingSync` (the default on
 * Linux and macOS): a commit writes its pages and then LMDB flushes the file
 * (fdatasync) outside the write lock, keeping both the last committed and
 * the last flushed meta pages. On open, when the boot id recorded with the
 * latest commit is not the current one (the OS restarted) the database rolls
 * back to the last flushed commit, so it stays consistent (lmdb-js README,
 * "Overlapping Sync Options" and the `safeRestore` option; `mdb_pick_meta`
 * and `mdb_env_open` in its `mdb.c`).
 *
 * - `full` (default): `commit()` resolves after the flush. What it
 *   acknowledged survives a process crash, an OS crash and a power loss (as
 *   far as the disk honours fdatasync).
 * - `relaxed`: `commit()` resolves once the transaction is committed, before
 *   the flush. A process crash (kill -9, OOM, a bug) loses nothing
 *   acknowledged: the pages are in the OS page cache and the same boot reads
 *   the latest commit. An OS crash or power loss can lose the commits not yet
 *   flushed (normally the last few milliseconds), never the consistency of
 *   the database. (LMDB's `noSync` would also risk corrupting the database on
 *   an OS crash, which is why it is not used.)
 *
 * ## Refusals
 * Opening never wipes or rewrites anything it does not recognise: a directory
 * held by a live process, a directory with other files but no database, an
 * LMDB file that is not a Starling store, another format version, or a file
 * whose LMDB header is damaged are refused with a {@link StoreError} naming
 * the directory and what to do (`lmdb-open.ts`). The header is checked
 * before LMDB sees the file: lmdb-js 3.5.6 takes the process down (SIGSEGV in
 * its failed-open cleanup) instead of reporting MDB_INVALID. LMDB keeps no
 * checksums: damage inside data pages is not detected at open.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import type { RootDatabase } from "lmdb";
import { InvalidArgumentError } from "../../protocol/index.js";
import type { DirectoryLock } from "./dir-lock.js";
import { StoreError, StoreErrorCode } from "./errors.js";
import { Batch, overlay, staged } from "./lmdb-batch.js";
import {
  clientEnd,
  clientPart,
  decodeDelivery,
  decodeInflight,
  decodeMessage,
  decodeSession,
  queueKey,
  type RetainedTuple,
  readU64,
  u64,
} from "./lmdb-codec.js";
import {
  type Db,
  FORMAT_VERSION,
  type MetaDb,
  messageOf,
  type OpenedEnvironment,
  openEnvironment,
  type Tables,
} from "./lmdb-open.js";
import { writeBatch } from "./lmdb-write.js";
import { compareCodePoints } from "./order.js";
import { byOrder, copyDelivery, copyInflight, copySession, normalMessage } from "./records.js";
import type {
  QueueEntry,
  Store,
  StoredDelivery,
  StoredInflight,
  StoredMessage,
  StoredSession,
  StoreSummary,
} from "./types.js";

export { DATA_FILE, FORMAT_VERSION } from "./lmdb-open.js";

/** How much a commit waits for (see the module comment for what each risks). */
export type SyncMode = "full" | "relaxed";

export interface LmdbStoreOptions {
  /** `full` (default): resolve commits after fdatasync; `relaxed`: after the commit, before the flush. */
  sync?: SyncMode;
}

/**
 * The durable store. Open with {@link LmdbStore.open}.
 *
 * @example
 * ```ts
 * const store = await LmdbStore.open("./data", { sync: "full" });
 * const id = store.addMessage(message);
 * store.enqueue("sensor-7", { messageId: id, qos: 1, retain: false });
 * await store.commit(); // now PUBACK
 * await store.close();
 * ```
 */
export class LmdbStore implements Store {
  readonly durable = true;
  /** The data directory (absolute). */
  readonly directory: string;
  readonly sync: SyncMode;

  #root: RootDatabase;
  #meta: MetaDb;
  #db: Tables;
  #lock: DirectoryLock;
  #file: string;

  /** Being staged now. */
  #pending = new Batch();
  /** Being written (until its commit resolves). */
  #writing: Batch | undefined;
  #inProgress: Promise<void> | undefined;
  /** The commit waiting for the one in progress: everything staged meanwhile goes in it. */
  #next: Deferred | undefined;
  #failed: StoreError | undefined;
  #closing: Promise<void> | undefined;
  #nextMessageId: number;
  #nextSeq: number;
  /** Visible queue lengths of the clients asked about (kept up to date by enqueue/dequeue). */
  #queueLengths = new Map<string, number>();

  private constructor(directory: string, sync: SyncMode, o: OpenedEnvironment) {
    this.directory = directory;
    this.sync = sync;
    this.#root = o.root;
    this.#meta = o.meta;
    this.#db = o.db;
    this.#lock = o.lock;
    this.#file = o.file;
    this.#nextMessageId = o.nextMessageId;
    this.#nextSeq = o.nextSeq;
  }

  /**
   * Opens the store in `directory` (created if missing), taking its lock.
   * Throws a {@link StoreError} for a directory it must not use.
   */
  static async open(directory: string, options: LmdbStoreOptions = {}): Promise<LmdbStore> {
    const sync = options.sync ?? "full";
    if (sync !== "full" && sync !== "relaxed") {
      throw new InvalidArgumentError(`sync must be "full" or "relaxed", not ${String(sync)}`);
    }
    const dir = resolve(directory);
    return new LmdbStore(dir, sync, await openEnvironment(dir));
  }

  // ---- sessions -------------------------------------------------------------

  putSession(session: StoredSession): void {
    this.#stage().sessions.set(session.clientId, copySession(session));
  }

  deleteSession(clientId: string): void {
    const batch = this.#stage();
    batch.sessions.set(clientId, null);
    batch.clearClient(clientId);
    this.#queueLengths.set(clientId, 0);
  }

  async getSession(clientId: string): Promise<StoredSession | undefined> {
    this.#usable();
    for (const b of this.#newestFirst()) {
      if (b.sessions.has(clientId)) {
        const s = b.sessions.get(clientId);
        return s ? copySession(s) : undefined;
      }
    }
    const raw = this.#db.sessions.get(clientPart(clientId));
    if (raw === undefined) return undefined;
    const session = decodeSession(raw);
    return session.clientId === clientId ? session : undefined;
  }

  async listSessions(): Promise<StoredSession[]> {
    this.#usable();
    const changed = new Map<string, StoredSession | null>();
    for (const b of this.#oldestFirst()) for (const [id, s] of b.sessions) changed.set(id, s);
    const out: StoredSession[] = [];
    for (const { value } of this.#db.sessions.getRange()) {
      const session = decodeSession(value);
      if (!changed.has(session.clientId)) out.push(session);
    }
    for (const s of changed.values()) if (s) out.push(copySession(s));
    return out;
  }

  // ---- messages -------------------------------------------------------------

  addMessage(message: StoredMessage): number {
    const batch = this.#stage();
    const id = this.#nextMessageId++;
    batch.messages.set(id, normalMessage(message));
    return id;
  }

  async getMessage(messageId: number): Promise<StoredMessage | undefined> {
    this.#usable();
    return this.#message(messageId);
  }

  // ---- queues ---------------------------------------------------------------

  enqueue(clientId: string, delivery: StoredDelivery): number {
    const batch = this.#stage();
    const seq = this.#nextSeq++;
    Batch.entries(batch.queues, clientId).set(seq, copyDelivery(delivery));
    const length = this.#queueLengths.get(clientId);
    if (length !== undefined) this.#queueLengths.set(clientId, length + 1);
    return seq;
  }

  dequeue(clientId: string, seq: number): void {
    const batch = this.#stage();
    const length = this.#queueLengths.get(clientId);
    if (length !== undefined && this.#queued(clientId, seq)) {
      this.#queueLengths.set(clientId, length - 1);
    }
    Batch.entries(batch.queues, clientId).set(seq, null);
  }

  async readQueue(clientId: string, afterSeq: number, limit: number): Promise<QueueEntry[]> {
    this.#usable();
    const out: QueueEntry[] = [];
    if (!(limit > 0)) return out;
    const { entries, hideDb } = overlay(this.#oldestFirst(), (b) => b.queues, clientId);
    const added: QueueEntry[] = [];
    for (const [seq, d] of entries) {
      if (d && seq > afterSeq) added.push({ seq, delivery: copyDelivery(d) });
    }
    added.sort((a, b) => a.seq - b.seq);
    let i = 0;
    if (!hideDb) {
      const client = clientPart(clientId);
      const from = Math.max(0, Math.floor(afterSeq) + 1);
      const range = this.#db.queue.getRange({
        start: queueKey(client, Math.min(from, Number.MAX_SAFE_INTEGER)),
        end: clientEnd(client),
      });
      for (const { key, value } of range) {
        const seq = readU64(key, client.length);
        while (i < added.length && added[i].seq < seq && out.length < limit) out.push(added[i++]);
        if (out.length >= limit) break;
        if (entries.has(seq)) continue; // removed (or replaced) by a staged batch
        out.push({ seq, delivery: decodeDelivery(value) });
        if (out.length >= limit) break;
      }
    }
    while (i < added.length && out.length < limit) out.push(added[i++]);
    return out;
  }

  async queueLength(clientId: string): Promise<number> {
    this.#usable();
    let length = this.#queueLengths.get(clientId);
    if (length === undefined) {
      length = this.#countQueue(clientId);
      this.#queueLengths.set(clientId, length);
    }
    return length;
  }

  // ---- in flight --------------------------------------------------------------

  putInflight(clientId: string, entry: StoredInflight): void {
    Batch.entries(this.#stage().inflight, clientId).set(entry.packetId, copyInflight(entry));
  }

  deleteInflight(clientId: string, packetId: number): void {
    Batch.entries(this.#stage().inflight, clientId).set(packetId, null);
  }

  async listInflight(clientId: string): Promise<StoredInflight[]> {
    this.#usable();
    const out = this.#clientEntries(
      clientId,
      (b) => b.inflight,
      this.#db.inflight,
      (_, value) => decodeInflight(value),
      (_, entry) => copyInflight(entry),
    );
    return out.sort(byOrder);
  }

  // ---- inbound QoS 2 ------------------------------------------------------------

  addInboundQos2(clientId: string, packetId: number): void {
    Batch.entries(this.#stage().inbound, clientId).set(packetId, true);
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    Batch.entries(this.#stage().inbound, clientId).set(packetId, null);
  }

  async listInboundQos2(clientId: string): Promise<number[]> {
    this.#usable();
    const ids = this.#clientEntries(
      clientId,
      (b) => b.inbound,
      this.#db.inbound,
      (packetId) => packetId,
      (packetId) => packetId,
    );
    return ids.sort((a, b) => a - b);
  }

  // ---- retained -------------------------------------------------------------------

  setRetained(topic: string, messageId: number | undefined): void {
    this.#stage().retained.set(topic, messageId ?? null);
  }

  async listRetained(): Promise<{ topic: string; message: StoredMessage }[]> {
    this.#usable();
    const changed = new Map<string, number | null>();
    for (const b of this.#oldestFirst())
      for (const [topic, id] of b.retained) changed.set(topic, id);
    const ids: [string, number][] = [];
    for (const { value } of this.#db.retained.getRange()) {
      const [topic, id] = value as RetainedTuple;
      if (!changed.has(topic)) ids.push([topic, id]);
    }
    for (const [topic, id] of changed) if (id !== null) ids.push([topic, id]);
    const out: { topic: string; message: StoredMessage }[] = [];
    for (const [topic, id] of ids) {
      const message = this.#message(id);
      if (message !== undefined) out.push({ topic, message });
    }
    return out.sort((a, b) => compareCodePoints(a.topic, b.topic));
  }

  // ---- lifecycle --------------------------------------------------------------------

  commit(): Promise<void> {
    try {
      this.#usable();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#commit();
  }

  /** Counts after committing what is staged; `sizeBytes` is the database file's size. */
  async summary(): Promise<StoreSummary> {
    await this.commit();
    const count = (db: Db) => (db.getStats() as { entryCount: number }).entryCount;
    return {
      sessions: count(this.#db.sessions),
      queuedMessages: count(this.#db.queue),
      inflightMessages: count(this.#db.inflight),
      retainedMessages: count(this.#db.retained),
      storedMessages: count(this.#db.messages),
      sizeBytes: statSync(this.#file).size,
      formatVersion: FORMAT_VERSION,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    let failure: unknown;
    try {
      await this.#commit();
    } catch (error) {
      failure = error;
    }
    try {
      await this.#root.close();
    } finally {
      this.#lock.release();
    }
    if (failure !== undefined) throw failure;
  }

  // ---- group commit -----------------------------------------------------------------

  #commit(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#inProgress !== undefined) {
      if (this.#pending.empty) return this.#inProgress;
      this.#next ??= deferred();
      return this.#next.promise;
    }
    if (this.#pending.empty) return Promise.resolve();
    return this.#start();
  }

  #start(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Batch();
    this.#writing = batch;
    const done = this.#write(batch).then(
      () => {
        this.#writing = undefined;
        this.#inProgress = undefined;
        const next = this.#next;
        this.#next = undefined;
        if (next !== undefined) this.#commit().then(next.resolve, next.reject);
      },
      (cause: unknown) => {
        this.#writing = undefined;
        this.#inProgress = undefined;
        this.#queueLengths.clear();
        this.#failed = new StoreError(
          StoreErrorCode.Failed,
          `a commit to the store in ${this.directory} failed (${messageOf(cause)}); ` +
            "its changes are not stored and the store accepts no more commits: reopen it",
          this.directory,
          cause,
        );
        this.#next?.reject(this.#failed);
        this.#next = undefined;
        throw this.#failed;
      },
    );
    this.#inProgress = done;
    return done;
  }

  async #write(batch: Batch): Promise<void> {
    const counters: [number, number] = [this.#nextMessageId, this.#nextSeq];
    await this.#root.childTransaction(() => writeBatch(this.#db, this.#meta, batch, counters));
    if (this.sync === "full") await this.#root.flushed;
    this.#root.resetReadTxn();
  }

  // ---- reads through the staged batches ------------------------------------------------

  #oldestFirst(): Batch[] {
    return this.#writing ? [this.#writing, this.#pending] : [this.#pending];
  }

  #newestFirst(): Batch[] {
    return this.#writing ? [this.#pending, this.#writing] : [this.#pending];
  }

  #message(id: number): StoredMessage | undefined {
    for (const b of this.#newestFirst()) {
      const m = b.messages.get(id);
      if (m !== undefined) return m;
    }
    const raw = this.#db.messages.get(u64(id));
    return raw === undefined ? undefined : decodeMessage(raw);
  }

  #queued(clientId: string, seq: number): boolean {
    const s = staged(this.#newestFirst(), (b) => b.queues, clientId, seq);
    if (s !== undefined) return s !== null;
    return this.#db.queue.doesExist(queueKey(clientPart(clientId), seq));
  }

  #countQueue(clientId: string): number {
    const { entries, hideDb } = overlay(this.#oldestFirst(), (b) => b.queues, clientId);
    const client = clientPart(clientId);
    let n = hideDb ? 0 : this.#db.queue.getCount({ start: client, end: clientEnd(client) });
    for (const [seq, d] of entries) {
      const inDb = !hideDb && this.#db.queue.doesExist(queueKey(client, seq));
      if (inDb && d === null) n--;
      else if (!inDb && d !== null) n++;
    }
    return n;
  }

  /** A client's entries of one kind, from the database and the staged batches. */
  #clientEntries<V, R>(
    clientId: string,
    pick: (b: Batch) => Map<string, Map<number, V | null>>,
    db: Db,
    fromDb: (packetId: number, value: unknown) => R,
    fromBatch: (packetId: number, value: V) => R,
  ): R[] {
    const { entries, hideDb } = overlay(this.#oldestFirst(), pick, clientId);
    const out: R[] = [];
    if (!hideDb) {
      const client = clientPart(clientId);
      for (const { key, value } of db.getRange({ start: client, end: clientEnd(client) })) {
        const packetId = key.readUInt16BE(client.length);
        if (!entries.has(packetId)) out.push(fromDb(packetId, value));
      }
    }
    for (const [packetId, v] of entries) if (v !== null) out.push(fromBatch(packetId, v));
    return out;
  }

  #stage(): Batch {
    this.#usable();
    this.#pending.ops++;
    return this.#pending;
  }

  #usable(): void {
    if (this.#closing !== undefined) {
      throw new StoreError(
        StoreErrorCode.Closed,
        `the store in ${this.directory} is closed`,
        this.directory,
      );
    }
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
