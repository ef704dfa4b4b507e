/**
 * One data directory belongs to one process: `DIR/starling.lock` holds the
 * pid of the process that owns `DIR`.
 *
 * - The lock file is written whole before it appears (written under a
 *   temporary name, then hard-linked to `starling.lock`, which fails if the
 *   name exists), so a reader never sees a half-written pid.
 * - A lock whose pid is not a live process (checked with `kill(pid, 0)`) is
 *   stale, left by a process that crashed or was killed: it is taken over.
 *   The take-over renames the stale file away first and checks that it moved
 *   the stale one, so two processes taking over at once cannot both win.
 * - A pid reused by an unrelated process after a reboot looks alive: the open
 *   is then refused with the pid named, and the operator removes the file.
 */
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StoreError, StoreErrorCode } from "./errors.js";

/** Name of the lock file in a data directory. */
export const LOCK_FILE = "starling.lock";

/** An acquired directory lock; {@link DirectoryLock.release} gives it up. */
export class DirectoryLock {
  readonly path: string;
  #released = false;

  private constructor(path: string) {
    this.path = path;
  }

  /** Takes the lock of `dir` for this process, or throws a {@link StoreError} naming the holder. */
  static acquire(dir: string): DirectoryLock {
    const path = join(dir, LOCK_FILE);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${process.pid}\n`);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          linkSync(tmp, path);
          return new DirectoryLock(path);
        } catch (error) {
          if (errno(error) !== "EEXIST") throw error;
        }
        const holder = readPid(path);
        if (holder === undefined) continue; // removed meanwhile: try again
        if (holder !== null && isAlive(holder)) {
          const who = holder === process.pid ? `this process (${holder})` : `process ${holder}`;
          throw new StoreError(
            StoreErrorCode.Locked,
            `data directory ${dir} is in use by ${who} (lock file ${path}); ` +
              "stop that process, or remove the lock file if that pid is not a Starling broker",
            dir,
          );
        }
        takeOver(path, holder);
      }
      throw new StoreError(
        StoreErrorCode.Locked,
        `data directory ${dir}: could not take the lock file ${path} (it keeps changing)`,
        dir,
      );
    } finally {
      unlinkSync(tmp);
    }
  }

  /** Removes the lock file if it is still this process's. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (readPid(this.path) === process.pid) unlinkSync(this.path);
  }
}

/** Moves a stale lock away, checking that it is the one seen (pid `stale`). */
function takeOver(path: string, stale: number | null): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if (errno(error) === "ENOENT") return; // someone else moved it: retry
    throw error;
  }
  if (readPid(aside) !== stale) {
    // Another process took over between our read and our rename: put its lock back.
    try {
      linkSync(aside, path);
    } catch (error) {
      if (errno(error) !== "EEXIST") throw error;
    }
  }
  unlinkSync(aside);
}

/** The pid in a lock file; null when the content is not a pid; undefined when the file is gone. */
function readPid(path: string): number | null | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (errno(error) === "ENOENT") return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === "EPERM"; // exists, owned by another user
  }
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}
