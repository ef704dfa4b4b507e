/**
 * How many more files (sockets) this process may open. Each connection
 * holds one, and once the limit is reached the operating system refuses new
 * connections without the broker ever seeing them (Node accepts and closes
 * them silently): the broker can only warn ahead of it.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface FileLimit {
  /** The soft `RLIMIT_NOFILE` (Node raises it to the hard limit at start-up). */
  limit: number;
  /** Descriptors open now. */
  open: number;
}

/** The open-file limit and current use, where the system shows them (Linux `/proc`); else undefined. */
export function fileLimit(): FileLimit | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    if (soft === undefined || soft === "unlimited") return undefined;
    const limit = Number.parseInt(soft, 10);
    if (!Number.isFinite(limit)) return undefined;
    return { limit, open: readdirSync("/proc/self/fd").length };
  } catch {
    return undefined;
  }
}
