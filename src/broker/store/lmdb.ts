/**
 * `LmdbStore`: the durable {@link Store}, on LMDB (the `lmdb` package, which
 * ships prebuilt binaries: no server, nothing to compile).
 *
 * ## Files
 * `DIR/starling.mdb` (the database), `DIR/starling.mdb-lock` (LMDB's reader
 * table), `DIR/starling.lock` (the pid owning the directory, see `dir-lock.ts`).
 *
 * ## Keyspace, format 2
 * Named LMDB databases in one environment, so that one transaction covers all
 * of them (keys and values are described in `lmdb-codec.ts`):
 *
 * | database   | key                          | value                                   |
 * |------------|------------------------------|-----------------------------------------|
 * | `meta`     | `"format"`, `"counters"`     | `{ format: 2 }`; `[nextMessageId, nextSeq]` |
 * | `sessions` | client                       | the session (a map)                     |
 * | `messages` | message id (u64)             | `[topic, payload, qos, retain, expiresAt, origin, properties?]` |
 * | `refs`     | message id (u64)             | number of queue, in-flight and retained entries referring to it |
 * | `queue`    | client, seq (u64)            | `[messageId, qos, retain, subscriptionIds?, bytes?]` |
 * | `inflight` | client, packet id (u16)      | `[messageId, qos, retain, packetId, 0 publish / 1 pubrel, order, subscriptionIds?, bytes?]` |
 * | `inbound`  | client, packet id (u16)      | `true`                                  |
 * | `retained` | topic                        | `[topic, messageId]`                    |
 * | `floors`   | client                       | `[clientId, floor seq]`: the client's queue entries below it are a deleted session's |
 *
 * (`subscriptionIds` is null when absent and `bytes` follows; format 1,
 * which had no `floors` and no `bytes`, is upgraded on open by adding the
 * empty table.)
 *
 * A client's queue is one contiguous key range ordered by seq, so `readQueue`
 * is a range scan that stops after `limit` entries; nothing loads a whole
 * queue into memory. Message ids and seqs come from two counters (seqs are
 * shared by all clients: increasing per client, not contiguous), written in
 * every commit, so they continue after a restart and never reuse a number.
 * `queueSize` scans the client's range once, reading the `bytes` of each
 * entry (no message), then keeps the figures up to date as entries come and go.
 *
 * ## Deleting a session
 * Removing a 100,000-entry queue in one transaction blocks the event loop
 * for over half a second, so `deleteSession` does not: the commit that
 * writes the deletion removes the session, its in-flight and inbound entries,
 * and records the client's queue floor, the first seq not yet handed out
 * (seqs only grow, so every entry the deleted session had is below it and
 * every entry of a new session with the same client id is above it). Every
 * read of the client's queue starts at its floor, so the old entries are
 * invisible from the moment `deleteSession` is called. Each transaction then
 * removes up to `deleteChunk` (1000) entries below floors, with their
 * message references (this batch's deletions first: a short queue is gone in
 * the same commit), and drops a floor once nothing is left below it. When
 * entries remain, the store commits again by itself on a later event-loop
 * turn (`commit()` with nothing staged also takes a step), and an open
 * resumes where a closed or crashed process stopped: the floors are in the
 * database, written in the same transactions as what they cover.
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
  deliveryBytes,
  type FloorTuple,
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
import { QUEUE_DELETE_CHUNK, type WriteOutcome, writeBatch } from "./lmdb-write.js";
import { compareCodePoints } from "./order.js";
import { byOrder, copyDelivery, copyInflight, copySession, normalMessage } from "./records.js";
import type {
  QueueEntry,
  RetainedEntry,
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
  /**
   * Queue entries of deleted sessions removed per commit, at most (default
   * 1000): bounds how long a commit blocks the event loop.
   */
  deleteChunk?: number;
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
  readonly #deleteChunk: number;

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
  /** Visible queue byte sums of the clients asked about (likewise). */
  #queueBytes = new Map<string, number>();
  /**
   * Queue floors by client id (see "Deleting a session"): set by
   * `deleteSession`, forgotten once the database has no entry below them.
   */
  #floors: Map<string, number>;
  /** The next step of deleting the entries below floors, when one is scheduled. */
  #deletionStep: NodeJS.Immediate | undefined;

  private constructor(
    directory: string,
    sync: SyncMode,
    deleteChunk: number,
    o: OpenedEnvironment,
  ) {
    this.directory = directory;
    this.sync = sync;
    this.#deleteChunk = deleteChunk;
    this.#root = o.root;
    this.#meta = o.meta;
    this.#db = o.db;
    this.#lock = o.lock;
    this.#file = o.file;
    this.#nextMessageId = o.nextMessageId;
    this.#nextSeq = o.nextSeq;
    this.#floors = o.floors;
    // A deletion a previous process did not finish goes on.
    if (this.#floors.size > 0) this.#continueDeletions();
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
    const deleteChunk = options.deleteChunk ?? QUEUE_DELETE_CHUNK;
    if (!Number.isSafeInteger(deleteChunk) || deleteChunk < 1) {
      throw new InvalidArgumentError(
        `deleteChunk must be a positive integer, not ${String(deleteChunk)}`,
      );
    }
    const dir = resolve(directory);
    return new LmdbStore(dir, sync, deleteChunk, await openEnvironment(dir));
  }

  // ---- sessions -------------------------------------------------------------

  putSession(session: StoredSession): void {
    this.#stage().sessions.set(session.clientId, copySession(session));
  }

  deleteSession(clientId: string): void {
    const batch = this.#stage();
    batch.sessions.set(clientId, null);
    // Every seq handed out so far is below the floor, every later one at or above it.
    const floor = this.#nextSeq;
    batch.clearClient(clientId, floor);
    this.#floors.set(clientId, floor);
    this.#queueLengths.set(clientId, 0);
    this.#queueBytes.set(clientId, 0);
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
    this.#resize(clientId, 1, delivery.bytes ?? 0);
    return seq;
  }

  dequeue(clientId: string, seq: number): void {
    const batch = this.#stage();
    if (this.#queueLengths.has(clientId) || this.#queueBytes.has(clientId)) {
      const entry = this.#queuedEntry(clientId, seq);
      if (entry !== undefined) this.#resize(clientId, -1, -(entry.bytes ?? 0));
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
      const from = Math.max(0, Math.floor(afterSeq) + 1, this.#floor(clientId));
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

  async queueSize(clientId: string): Promise<{ length: number; bytes: number }> {
    this.#usable();
    let length = this.#queueLengths.get(clientId);
    let bytes = this.#queueBytes.get(clientId);
    if (length === undefined || bytes === undefined) {
      ({ length, bytes } = this.#sizeQueue(clientId));
      this.#queueLengths.set(clientId, length);
      this.#queueBytes.set(clientId, bytes);
    }
    return { length, bytes };
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

  async listRetained(): Promise<RetainedEntry[]> {
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
    const out: RetainedEntry[] = [];
    for (const [topic, messageId] of ids) {
      const message = this.#message(messageId);
      if (message !== undefined) out.push({ topic, messageId, message });
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
    return this.#commit(true);
  }

  /**
   * Counts after committing what is staged (without a step of deferred
   * deletion); `sizeBytes` is the database file's size.
   */
  async summary(): Promise<StoreSummary> {
    this.#usable();
    await this.#commit(false);
    const count = (db: Db) => (db.getStats() as { entryCount: number }).entryCount;
    const floors: [Buffer, number][] = [];
    for (const { key, value } of this.#db.floors.getRange()) {
      floors.push([Buffer.from(key), (value as FloorTuple)[1]]);
    }
    let pendingDeletions = 0;
    for (const [client, floor] of floors) {
      pendingDeletions += this.#db.queue.getCount({ start: client, end: queueKey(client, floor) });
    }
    return {
      sessions: count(this.#db.sessions),
      queuedMessages: count(this.#db.queue) - pendingDeletions,
      inflightMessages: count(this.#db.inflight),
      retainedMessages: count(this.#db.retained),
      storedMessages: count(this.#db.messages),
      pendingDeletions,
      sizeBytes: statSync(this.#file).size,
      formatVersion: FORMAT_VERSION,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // What deferred deletion is left goes on when the store is opened again.
    if (this.#deletionStep !== undefined) clearImmediate(this.#deletionStep);
    this.#deletionStep = undefined;
    let failure: unknown;
    try {
      await this.#commit(false);
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

  /** Writes what is staged; with `step`, also a step of deferred deletion when nothing is staged. */
  #commit(step: boolean): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#inProgress !== undefined) {
      if (this.#pending.empty) return this.#inProgress;
      this.#next ??= deferred();
      return this.#next.promise;
    }
    if (this.#pending.empty && !(step && this.#floors.size > 0)) return Promise.resolve();
    return this.#start();
  }

  #start(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Batch();
    this.#writing = batch;
    const done = this.#write(batch).then(
      (outcome) => {
        this.#writing = undefined;
        this.#inProgress = undefined;
        for (const [clientId, floor] of outcome.finished) {
          // Unless deleted again meanwhile (a higher floor).
          if (this.#floors.get(clientId) === floor) this.#floors.delete(clientId);
        }
        if (outcome.more) this.#continueDeletions();
        const next = this.#next;
        this.#next = undefined;
        if (next !== undefined) {
          const started = this.#commit(false);
          // Later callers of the batch just started share the promise of its earlier callers,
          // which settles after `started`: promises settle in the order commit() was called.
          if (this.#inProgress !== undefined) this.#inProgress = next.promise;
          started.then(next.resolve, next.reject);
        }
      },
      (cause: unknown) => {
        this.#writing = undefined;
        this.#inProgress = undefined;
        this.#queueLengths.clear();
        this.#queueBytes.clear();
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

  async #write(batch: Batch): Promise<WriteOutcome> {
    const counters: [number, number] = [this.#nextMessageId, this.#nextSeq];
    const outcome = await this.#root.childTransaction(() =>
      writeBatch(this.#db, this.#meta, batch, counters, this.#deleteChunk),
    );
    if (this.sync === "full") await this.#root.flushed;
    this.#root.resetReadTxn();
    return outcome;
  }

  /**
   * Takes the next step of deleting entries below floors on a later turn of
   * the event loop, unless a commit takes it first. Does not keep the
   * process alive.
   */
  #continueDeletions(): void {
    if (this.#deletionStep !== undefined) return;
    this.#deletionStep = setImmediate(() => {
      this.#deletionStep = undefined;
      if (this.#closing !== undefined || this.#inProgress !== undefined) return;
      // A failure is reported by the next commit the broker makes.
      this.#commit(true).catch(() => {});
    });
    this.#deletionStep.unref();
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

  /** The client's queue floor (0: none): its entries in the database below it are a deleted session's. */
  #floor(clientId: string): number {
    return this.#floors.get(clientId) ?? 0;
  }

  /** The visible queue entry of a client at `seq`, if any. */
  #queuedEntry(clientId: string, seq: number): StoredDelivery | undefined {
    const s = staged(this.#newestFirst(), (b) => b.queues, clientId, seq);
    if (s !== undefined) return s ?? undefined;
    if (seq < this.#floor(clientId)) return undefined;
    const raw = this.#db.queue.get(queueKey(clientPart(clientId), seq));
    return raw === undefined ? undefined : decodeDelivery(raw);
  }

  /** Adjusts the known queue figures of a client (those not known stay unknown). */
  #resize(clientId: string, length: number, bytes: number): void {
    const n = this.#queueLengths.get(clientId);
    if (n !== undefined) this.#queueLengths.set(clientId, n + length);
    const b = this.#queueBytes.get(clientId);
    if (b !== undefined) this.#queueBytes.set(clientId, b + bytes);
  }

  /** The database's part of a client's visible queue: from its floor to its end. */
  #queueRange(clientId: string): { client: Buffer; start: Buffer; end: Buffer } {
    const client = clientPart(clientId);
    const floor = this.#floor(clientId);
    return {
      client,
      start: floor > 0 ? queueKey(client, floor) : client,
      end: clientEnd(client),
    };
  }

  #countQueue(clientId: string): number {
    const { entries, hideDb } = overlay(this.#oldestFirst(), (b) => b.queues, clientId);
    if (hideDb) return [...entries.values()].filter((d) => d !== null).length;
    const { client, start, end } = this.#queueRange(clientId);
    const floor = this.#floor(clientId);
    let n = this.#db.queue.getCount({ start, end });
    for (const [seq, d] of entries) {
      const inDb = seq >= floor && this.#db.queue.doesExist(queueKey(client, seq));
      if (inDb && d === null) n--;
      else if (!inDb && d !== null) n++;
    }
    return n;
  }

  /** Length and bytes of a client's visible queue: one scan of its range, reading no message. */
  #sizeQueue(clientId: string): { length: number; bytes: number } {
    const { entries, hideDb } = overlay(this.#oldestFirst(), (b) => b.queues, clientId);
    let length = 0;
    let bytes = 0;
    if (!hideDb) {
      const { client, start, end } = this.#queueRange(clientId);
      for (const { key, value } of this.#db.queue.getRange({ start, end })) {
        if (entries.has(readU64(key, client.length))) continue; // removed by a staged batch
        length++;
        bytes += deliveryBytes(value);
      }
    }
    for (const d of entries.values()) {
      if (d === null) continue;
      length++;
      bytes += d.bytes ?? 0;
    }
    return { length, bytes };
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
