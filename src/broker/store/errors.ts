/**
 * Errors of a {@link Store}. Opening a durable store refuses a directory it
 * cannot safely use (held by another process, another format version, not a
 * Starling store, unreadable) with a message that names the directory and
 * says what to do; it never wipes anything.
 */
import { MqttError } from "../../protocol/index.js";

/** Stable codes of {@link StoreError}. */
export const StoreErrorCode = {
  /** Another live process holds the data directory. */
  Locked: "STORE_LOCKED",
  /** A Starling store written in an on-disk format this version does not read. */
  Incompatible: "STORE_INCOMPATIBLE",
  /** The directory holds something that is not a Starling store. */
  NotAStore: "STORE_NOT_A_STORE",
  /** The database cannot be opened or read. */
  Corrupt: "STORE_CORRUPT",
  /** The directory or a file in it cannot be read or written (permissions, I/O). */
  Inaccessible: "STORE_INACCESSIBLE",
  /** A call after `close()`. */
  Closed: "STORE_CLOSED",
  /** A commit failed; the store refuses further commits until it is reopened. */
  Failed: "STORE_FAILED",
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/** A store that cannot be opened or used. */
export class StoreError extends MqttError {
  declare readonly code: StoreErrorCode;
  /** The data directory concerned, when there is one. */
  readonly directory: string | undefined;

  constructor(code: StoreErrorCode, message: string, directory?: string, cause?: unknown) {
    super(code, message, { cause });
    this.name = "StoreError";
    this.directory = directory;
  }
}
