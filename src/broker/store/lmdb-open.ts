/**
 * Opening the LMDB store's directory (see `lmdb.ts` for the layout): the
 * lock, the checks that refuse what must not be used, the creation of a
 * new store and the upgrade of a format 1 store. Opening never changes a
 * file it refuses.
 */
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import { type Database, type DatabaseOptions, open, type RootDatabase } from "lmdb";
import { DirectoryLock, LOCK_FILE } from "./dir-lock.js";
import { StoreError, StoreErrorCode } from "./errors.js";
import { type FloorTuple, readU64 } from "./lmdb-codec.js";

/**
 * On-disk format written and read by this version. 2: queue floors (the
 * `floors` table: a deleted session's queue entries below its floor are
 * garbage, which format 1 code would show to a new session of the same
 * client) and entry sizes in queue and in-flight tuples.
 */
export const FORMAT_VERSION = 2;
/** An older format this version upgrades when opening it (adding the empty `floors` table). */
const UPGRADABLE_FORMAT = 1;
/** Name of the database file in the data directory. */
export const DATA_FILE = "starling.mdb";

export const TABLES = [
  "sessions",
  "messages",
  "refs",
  "queue",
  "inflight",
  "inbound",
  "retained",
  "floors",
] as const;
export type Table = (typeof TABLES)[number];
export type Db = Database<unknown, Buffer>;
export type MetaDb = Database<unknown, string>;
export type Tables = Record<Table, Db>;

const ADVICE =
  "Nothing was changed. Move the directory away (keep it to inspect or restore it), or run with --memory.";
/** LMDB's data file: meta page flag, magic and data version of this lmdb build (x86-64/arm64 little-endian). */
const P_META = 0x08;
const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
/** Offsets in page 0: page flags, then the meta record after the 24-byte page header. */
const FLAGS_AT = 18;
const MAGIC_AT = 24;
const VERSION_AT = 28;
const PAGE_SIZE_AT = 48;

/** An open, checked environment with its tables and counters, and the directory's lock. */
export interface OpenedEnvironment {
  root: RootDatabase;
  lock: DirectoryLock;
  /** The database file. */
  file: string;
  meta: MetaDb;
  db: Tables;
  nextMessageId: number;
  nextSeq: number;
  /** Queue floors of deleted sessions whose entries are not all removed yet, by client id. */
  floors: Map<string, number>;
}

/**
 * Opens the store in the absolute directory `dir`: creates the directory if
 * missing, takes its lock, checks the data file, opens (or creates) the
 * database and checks its format. Throws a {@link StoreError}, holding
 * nothing, for anything it must not use.
 */
export async function openEnvironment(dir: string): Promise<OpenedEnvironment> {
  prepareDirectory(dir);
  const lock = acquireLock(dir);
  let root: RootDatabase | undefined;
  try {
    const file = join(dir, DATA_FILE);
    checkDataFile(dir, file);
    root = open({ path: file, noSubdir: true, overlappingSync: true, maxDbs: 12 });
    return { root, lock, file, ...openTables(dir, file, root) };
  } catch (error) {
    try {
      await root?.close();
    } finally {
      lock.release();
    }
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      StoreErrorCode.Corrupt,
      `cannot open the store in ${dir}: ${messageOf(error)}. ${ADVICE}`,
      dir,
      error,
    );
  }
}

function acquireLock(dir: string): DirectoryLock {
  try {
    return DirectoryLock.acquire(dir);
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      StoreErrorCode.Inaccessible,
      `cannot write the lock file in ${dir}: ${messageOf(error)}. Fix the directory, or run with --memory.`,
      dir,
      error,
    );
  }
}

function prepareDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new StoreError(
      StoreErrorCode.NotAStore,
      `cannot use ${dir} as a data directory: ${messageOf(error)}. Choose another directory, or run with --memory.`,
      dir,
      error,
    );
  }
  if (!statSync(dir).isDirectory()) {
    throw new StoreError(
      StoreErrorCode.NotAStore,
      `${dir} is not a directory. Choose another data directory, or run with --memory.`,
      dir,
    );
  }
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new StoreError(
      StoreErrorCode.Inaccessible,
      `cannot read and write the data directory ${dir}: ${messageOf(error)}. Fix its permissions, or run with --memory.`,
      dir,
      error,
    );
  }
}

/**
 * Refuses a directory that holds files but no database, and a database file
 * that LMDB would fail to open (lmdb-js crashes instead of failing: see lmdb.ts).
 */
function checkDataFile(dir: string, file: string): void {
  const names = readdirSync(dir).filter((n) => !n.startsWith(LOCK_FILE));
  if (!names.includes(DATA_FILE)) {
    const others = names.filter((n) => n !== `${DATA_FILE}-lock`);
    if (others.length > 0) {
      const shown = others.slice(0, 5).join(", ") + (others.length > 5 ? ", ..." : "");
      throw new StoreError(
        StoreErrorCode.NotAStore,
        `${dir} is not a Starling data directory: it holds ${shown} but no ${DATA_FILE}. ` +
          "Choose an empty or new directory, move these files away, or run with --memory.",
        dir,
      );
    }
    return;
  }
  try {
    accessSync(file, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw new StoreError(
      StoreErrorCode.Inaccessible,
      `cannot read and write ${file}: ${messageOf(error)}. Fix its permissions, or run with --memory.`,
      dir,
      error,
    );
  }
  const problem = headerProblem(file);
  if (problem === undefined) return;
  throw new StoreError(
    problem.incompatible ? StoreErrorCode.Incompatible : StoreErrorCode.Corrupt,
    `${file} cannot be opened: ${problem.text}. ${ADVICE}`,
    dir,
  );
}

/** What is wrong with the LMDB header of `file`, if anything. */
function headerProblem(file: string): { text: string; incompatible?: boolean } | undefined {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { text: "it is empty (0 bytes)" };
    const head = Buffer.alloc(Math.min(size, 2 * 65536));
    readSync(fd, head, 0, head.length, 0);
    const isMeta = (at: number) =>
      head.length >= at + PAGE_SIZE_AT + 4 &&
      (head.readUInt16LE(at + FLAGS_AT) & P_META) !== 0 &&
      head.readUInt32LE(at + MAGIC_AT) === MDB_MAGIC;
    if (!isMeta(0))
      return {
        text: "it is not an LMDB database (no LMDB header at its start), or its header is damaged",
      };
    const version = head.readUInt32LE(VERSION_AT) & 0xffff;
    if (version !== MDB_DATA_VERSION) {
      return {
        text: `it was written by an LMDB with data format ${version} (this one reads ${MDB_DATA_VERSION})`,
        incompatible: true,
      };
    }
    const pageSize = head.readUInt32LE(PAGE_SIZE_AT);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      return { text: `its header is damaged (page size ${pageSize})` };
    }
    if (size < 2 * pageSize)
      return { text: `it is truncated (${size} bytes, less than its two header pages)` };
    if (!isMeta(pageSize)) return { text: "its second header page is damaged" };
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Opens (or, for a new database, creates) the tables and reads the format and counters. */
function openTables(
  dir: string,
  file: string,
  root: RootDatabase,
): Omit<OpenedEnvironment, "root" | "lock" | "file"> {
  const metaOptions = { encoding: "msgpack", useRecords: false, create: false } as DatabaseOptions;
  const tableOptions = { ...metaOptions, keyEncoding: "binary" } as DatabaseOptions;
  let meta = root.openDB<unknown, string>("meta", metaOptions) as MetaDb | undefined;
  if (meta === undefined) {
    checkEmpty(dir, file, root, tableOptions);
    root.transactionSync(() => {
      const created = { ...metaOptions, create: true } as DatabaseOptions;
      for (const name of TABLES)
        root.openDB(name, { ...tableOptions, create: true } as DatabaseOptions);
      const m = root.openDB<unknown, string>("meta", created);
      m.putSync("format", { format: FORMAT_VERSION });
      m.putSync("counters", [1, 1]);
    });
    meta = root.openDB<unknown, string>("meta", metaOptions);
  }
  const format = meta.get("format") as { format?: unknown } | undefined;
  if (typeof format?.format !== "number") {
    throw new StoreError(
      StoreErrorCode.Corrupt,
      `${file} has no readable format record. ${ADVICE}`,
      dir,
    );
  }
  if (format.format === UPGRADABLE_FORMAT) {
    // Format 1 data reads the same in format 2 (no floors; entries without sizes).
    const m = meta;
    root.transactionSync(() => {
      root.openDB("floors", { ...tableOptions, create: true } as DatabaseOptions);
      m.putSync("format", { format: FORMAT_VERSION });
    });
  } else if (format.format !== FORMAT_VERSION) {
    throw new StoreError(
      StoreErrorCode.Incompatible,
      `${dir} holds a Starling store in format ${format.format}; this version of Starling reads format ${FORMAT_VERSION}. ` +
        `Nothing was changed. Run the Starling version that wrote it, move the directory away, or run with --memory.`,
      dir,
    );
  }
  const db = {} as Tables;
  for (const name of TABLES) {
    const table = root.openDB<unknown, Buffer>(name, tableOptions) as Db | undefined;
    if (table === undefined) {
      throw new StoreError(
        StoreErrorCode.Corrupt,
        `${file} lacks its ${name} table. ${ADVICE}`,
        dir,
      );
    }
    db[name] = table;
  }
  const counters = meta.get("counters");
  if (
    !Array.isArray(counters) ||
    !counters.every((n) => Number.isSafeInteger(n) && n >= 1) ||
    counters.length !== 2
  ) {
    throw new StoreError(
      StoreErrorCode.Corrupt,
      `${file} has no readable counters record. ${ADVICE}`,
      dir,
    );
  }
  let [nextMessageId, nextSeq] = counters as [number, number];
  // Belt and braces: never hand out an id that is stored.
  for (const key of db.messages.getKeys({ reverse: true, limit: 1 })) {
    nextMessageId = Math.max(nextMessageId, readU64(key, 0) + 1);
  }
  nextSeq = Math.max(nextSeq, 1);
  const floors = new Map<string, number>();
  for (const { value } of db.floors.getRange()) {
    const [clientId, floor] = value as FloorTuple;
    floors.set(clientId, floor);
  }
  return { meta, db, nextMessageId, nextSeq, floors };
}

/** A database without the meta record is initialised only if it holds nothing (a creation cut short). */
function checkEmpty(dir: string, file: string, root: RootDatabase, options: DatabaseOptions): void {
  const known = new Set<string>([...TABLES, "meta"]);
  for (const name of root.getKeys()) {
    const table =
      typeof name === "string" && known.has(name) ? root.openDB(name, options) : undefined;
    if (table === undefined || table.getCount() > 0) {
      throw new StoreError(
        StoreErrorCode.NotAStore,
        `${file} is an LMDB database but not a Starling store (it has no format record). ${ADVICE}`,
        dir,
      );
    }
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
