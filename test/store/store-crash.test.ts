/**
 * LmdbStore against crashes and bad directories, with real processes:
 *
 * - a writer (crash-writer.ts) committing numbered batches is killed with
 *   SIGKILL at random moments (seeded), five times on one directory; after
 *   each kill, every batch it reported committed is there, whole, and no part
 *   of a later batch is visible;
 * - a writer that deleted a session with a 60,000-entry queue and queued
 *   new entries for the same client id is killed while the store removes
 *   the old entries over several commits, then a process resuming it is
 *   killed too: reads show only the new entries throughout, and once the
 *   deletion is done exactly the messages still referred to are stored;
 * - a directory held by a live process is refused to another one, naming the
 *   pid; the lock of a killed process is taken over;
 * - a wrong format version, a directory that is not a store, and damaged or
 *   foreign data files are refused with a clear error, from a child process
 *   so that a crash would show as one, and are left untouched.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type DatabaseOptions, open } from "lmdb";
import { DATA_FILE, LmdbStore, type SyncMode } from "../../src/broker/store/lmdb.js";
import { prng as random } from "../helpers/prng.js";
import { finishDeletions } from "./contract.js";
import {
  BIG_QUEUE,
  batchMessage,
  batchSize,
  bigDelivery,
  bigMessage,
  newBigMessage,
  progressMessage,
} from "./crash-batches.js";

const root = mkdtempSync(join(tmpdir(), "starling-crash-"));
after(() => rmSync(root, { recursive: true, force: true }));
const writer = join(import.meta.dirname, "crash-writer.ts");

/** A child running crash-writer.ts, its stdout lines, and a way to wait for them. */
class Child {
  readonly process: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = "";
  #waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.process = spawn(process.execPath, ["--import", "tsx", writer, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let partial = "";
    this.process.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.process.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) =>
      this.process.on("exit", (code, signal) => {
        for (const w of this.#waiters.splice(0)) w();
        resolve({ code, signal });
      }),
    );
  }

  /** Waits until `done()` holds (checked on every output line), failing after `ms`. */
  async until(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        throw new Error(`child exited before ${what}: ${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async kill(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill("SIGKILL");
    }
    await this.exited; // reaped: its pid is dead from here on
  }
}

/** Checks that the store holds exactly the state after batch `last` (see crash-writer.ts). */
async function expectState(store: LmdbStore, last: number): Promise<void> {
  const alive: number[] = [];
  for (let b = Math.max(1, last - 2); b <= last; b++) alive.push(b);
  const queued = async (clientId: string) => {
    const entries = await store.readQueue(clientId, 0, 1000);
    return Promise.all(entries.map(async (e) => store.getMessage(e.delivery.messageId)));
  };
  assert.deepEqual(
    await queued("crash"),
    alive.flatMap((b) => Array.from({ length: batchSize(b) }, (_, i) => batchMessage(b, i))),
    `queue "crash" after batch ${last}`,
  );
  assert.deepEqual(
    await queued("crash2"),
    alive.map((b) => batchMessage(b, 0)),
  );
  const retained = await store.listRetained();
  assert.deepEqual(
    retained.map((r) => r.topic),
    [...alive.map((b) => `batch/${b}`), "progress"].sort(),
  );
  for (const r of retained) {
    if (r.topic === "progress") assert.deepEqual(r.message, progressMessage(last));
    else assert.deepEqual(r.message, batchMessage(Number(r.topic.slice(6)), 0));
  }
  assert.equal((await store.getSession("crash"))?.expiryInterval, last);
  const summary = await store.summary();
  const messages = alive.reduce((n, b) => n + batchSize(b), 0);
  assert.equal(summary.storedMessages, messages + 1);
  assert.equal(summary.queuedMessages, messages + alive.length);
}

async function lastBatch(store: LmdbStore): Promise<number> {
  const progress = (await store.listRetained()).find((r) => r.topic === "progress");
  assert.ok(progress, "at least one batch committed");
  return Number(new TextDecoder().decode(progress.message.payload));
}

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("LmdbStore: crashes", () => {
  it("SIGKILL at random moments: every reported batch is there, whole; no partial batch", async () => {
    const dir = join(root, "crash");
    const rand = random(20261125);
    let reported = 0;
    for (let round = 0; round < 5; round++) {
      const sync: SyncMode = round % 2 === 0 ? "full" : "relaxed";
      const child = new Child(["write", dir, sync]);
      try {
        await child.until(() => child.lines.length > 0, 10_000, "the first committed batch");
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 250)));
      } finally {
        await child.kill();
      }
      const numbers = child.lines.map(Number);
      assert.ok(
        numbers.every((n, i) => n === reported + 1 + i),
        `batches ${numbers} follow ${reported}`,
      );
      const lastReported = numbers[numbers.length - 1];
      const store = await LmdbStore.open(dir); // takes over the killed writer's lock
      try {
        const last = await lastBatch(store);
        // The writer awaits each commit before the next batch, so at most one
        // batch can be committed without having been reported.
        assert.ok(
          last === lastReported || last === lastReported + 1,
          `round ${round} (${sync}): found batch ${last}, reported ${lastReported}`,
        );
        await expectState(store, last);
        reported = last;
      } finally {
        await store.close();
      }
    }
    assert.ok(reported >= 5, `${reported} batches over 5 rounds`);
  });

  it("SIGKILL while a deleted session's long queue is being removed, and while resuming: reads show only the new session's entries; messages end right", async () => {
    const dir = join(root, "deferred");
    const rand = random(4242);
    /** The new "big" session's queue, as its messages and sizes, and "keep"'s. */
    const expectVisible = async (store: LmdbStore, when: string) => {
      const entries = await store.readQueue("big", 0, 1000);
      const fresh = [0, 1, 2].map(newBigMessage);
      assert.deepEqual(
        await Promise.all(entries.map((e) => store.getMessage(e.delivery.messageId))),
        fresh,
        `queue "big" ${when}`,
      );
      assert.deepEqual(
        entries.map((e) => e.delivery),
        entries.map((e, i) => bigDelivery(e.delivery.messageId, fresh[i])),
      );
      assert.deepEqual(await store.queueSize("big"), {
        length: 3,
        bytes: fresh.reduce((n, m) => n + m.payload.length, 0),
      });
      assert.equal((await store.getSession("big"))?.expiryInterval, 2, when);
      const [keep] = await store.readQueue("keep", 0, 10);
      assert.deepEqual(await store.getMessage(keep.delivery.messageId), bigMessage(0), when);
      const summary = await store.summary();
      assert.equal(summary.queuedMessages, 4, when);
      assert.equal(summary.sessions, 1, when);
      return summary;
    };

    const writer = new Child(["delete", dir]);
    try {
      await writer.until(() => writer.lines.includes("deleted"), 60_000, "the deletion's commit");
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 40)));
    } finally {
      await writer.kill();
    }
    let store = await LmdbStore.open(dir);
    try {
      const summary = await expectVisible(store, "after the writer was killed");
      assert.ok(
        summary.pendingDeletions > 0 && summary.pendingDeletions < BIG_QUEUE,
        `killed in the middle of the deletion (${summary.pendingDeletions} entries left)`,
      );
    } finally {
      await store.close();
    }

    const resumer = new Child(["resume", dir]);
    try {
      await resumer.until(() => resumer.lines.includes("open"), 10_000, "the resumer to open");
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 40)));
    } finally {
      await resumer.kill();
    }
    store = await LmdbStore.open(dir);
    try {
      await expectVisible(store, "after the resumer was killed");
      await finishDeletions(store);
      const summary = await expectVisible(store, "after the deletion finished");
      assert.equal(summary.pendingDeletions, 0);
      assert.equal(summary.storedMessages, 4, "the three new messages and keep's");
    } finally {
      await store.close();
    }
  });

  it("a directory in use by a live process is refused, naming it; a killed holder's lock is taken over", async () => {
    const dir = join(root, "locked");
    const holder = new Child(["hold", dir]);
    try {
      await holder.until(() => holder.lines.includes("ready"), 10_000, "the holder to open");
      const pid = holder.process.pid!;
      await assert.rejects(LmdbStore.open(dir), (error: Error & { code?: string }) => {
        assert.equal(error.code, "STORE_LOCKED");
        assert.ok(error.message.includes(dir), error.message);
        assert.ok(error.message.includes(`process ${pid}`), error.message);
        return true;
      });
      const other = new Child(["probe", dir]);
      await other.exited;
      const result = JSON.parse(other.lines[0]);
      assert.equal(result.code, "STORE_LOCKED", other.stderr);
      assert.ok(result.message.includes(`process ${pid}`));
    } finally {
      await holder.kill();
    }
    assert.equal(
      readFileSync(join(dir, "starling.lock"), "utf8").trim(),
      String(holder.process.pid),
    );
    const store = await LmdbStore.open(dir);
    assert.equal(readFileSync(join(dir, "starling.lock"), "utf8").trim(), String(process.pid));
    await store.close();
    assert.equal(existsSync(join(dir, "starling.lock")), false, "released on close");
  });

  it("refuses, without crashing or changing them: another format, not a store, damaged or foreign files", async () => {
    const cases: Record<string, { code: string; mention: RegExp }> = {};
    const dirOf = (name: string) => join(root, "refuse", name);
    const makeStore = async (name: string) => {
      const store = await LmdbStore.open(dirOf(name));
      const id = store.addMessage(batchMessage(1, 0));
      store.setRetained("keep", id);
      await store.close();
      return join(dirOf(name), DATA_FILE);
    };
    const metaOptions = { encoding: "msgpack", useRecords: false } as DatabaseOptions;

    // Another format version.
    const format3 = await makeStore("format3");
    {
      const env = open({ path: format3, overlappingSync: true });
      env.openDB<unknown, string>("meta", metaOptions).putSync("format", { format: 3 });
      await env.close();
    }
    cases.format3 = { code: "STORE_INCOMPATIBLE", mention: /format 3.*reads format 2/ };

    // A directory with other things in it.
    mkdirSync(dirOf("notastore"), { recursive: true });
    writeFileSync(join(dirOf("notastore"), "notes.txt"), "mine\n");
    cases.notastore = { code: "STORE_NOT_A_STORE", mention: /notes\.txt/ };

    // An LMDB database of someone else's.
    mkdirSync(dirOf("foreign"), { recursive: true });
    {
      const env = open({ path: join(dirOf("foreign"), DATA_FILE), overlappingSync: true });
      env.openDB<unknown, string>("other", metaOptions).putSync("x", 1);
      await env.close();
    }
    cases.foreign = { code: "STORE_NOT_A_STORE", mention: /not a Starling store/ };

    // Damaged data files.
    mkdirSync(dirOf("garbage"), { recursive: true });
    const rand = random(7);
    writeFileSync(
      join(dirOf("garbage"), DATA_FILE),
      Uint8Array.from({ length: 65536 }, () => Math.floor(rand() * 256)),
    );
    cases.garbage = { code: "STORE_CORRUPT", mention: /not an LMDB database/ };
    const zeroed = await makeStore("zeroed");
    const fd = openSync(zeroed, "r+");
    writeSync(fd, Buffer.alloc(4096), 0, 4096, 0);
    closeSync(fd);
    cases.zeroed = { code: "STORE_CORRUPT", mention: /header is damaged/ };
    const truncated = await makeStore("truncated");
    truncateSync(truncated, 3000);
    cases.truncated = { code: "STORE_CORRUPT", mention: /truncated/ };
    mkdirSync(dirOf("empty"), { recursive: true });
    writeFileSync(join(dirOf("empty"), DATA_FILE), "");
    cases.empty = { code: "STORE_CORRUPT", mention: /empty/ };

    // A file where the directory should be.
    writeFileSync(dirOf("afile"), "x");
    cases.afile = { code: "STORE_NOT_A_STORE", mention: /not a directory|cannot use/ };

    const names = Object.keys(cases);
    const before = new Map<string, string>();
    for (const name of names) {
      const file = join(dirOf(name), DATA_FILE);
      if (existsSync(file)) before.set(name, sha(file));
    }
    const probe = new Child(["probe", ...names.map(dirOf)]);
    const timer = setTimeout(() => probe.process.kill("SIGKILL"), 15_000);
    const { code, signal } = await probe.exited;
    clearTimeout(timer);
    assert.deepEqual(
      { code, signal },
      { code: 0, signal: null },
      `the probe crashed: ${probe.stderr}`,
    );
    assert.equal(probe.lines.length, names.length);
    for (const [i, name] of names.entries()) {
      const result = JSON.parse(probe.lines[i]);
      const expected = cases[name];
      assert.equal(result.code, expected.code, `${name}: ${result.message}`);
      assert.equal(result.name, "StoreError");
      assert.ok(
        result.message.includes(dirOf(name)),
        `${name} names its directory: ${result.message}`,
      );
      assert.match(result.message, expected.mention, name);
      if (name !== "afile") assert.match(result.message, /--memory/, `${name} says what to do`);
      const file = join(dirOf(name), DATA_FILE);
      if (before.has(name)) assert.equal(sha(file), before.get(name), `${name} left untouched`);
      if (name !== "afile") assert.equal(existsSync(join(dirOf(name), "starling.lock")), false);
    }
  });
});
