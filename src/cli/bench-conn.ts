/**
 * `starling bench conn`: opens the clients (the run measures connections per
 * second and connect latency), holds them for `--duration` — keep alive
 * pings included — and closes them. A connection lost while held is an error.
 */
import type { Workload } from "./bench-run.js";

export class ConnWorkload implements Workload {
  async prepare(): Promise<boolean> {
    return true;
  }

  start(): void {}

  async stop(): Promise<void> {}

  progress(): string {
    return "";
  }

  report(): Record<string, unknown> {
    return {};
  }

  lines(): string[] {
    return [];
  }
}
