/**
 * `starling store inspect DIR`: what a data directory holds — sessions,
 * queued and in-flight messages, retained messages, size and format — for
 * operators. Opening takes the directory's lock, so it refuses (naming the
 * pid) while a broker runs on it.
 */
import type { Command } from "commander";
import type { LmdbStore } from "../broker/store/lmdb.js";

interface InspectFlags {
  json?: boolean;
}

export function registerStore(program: Command): void {
  const store = program.command("store").description("inspect a broker's data directory");
  store
    .command("inspect <dir>")
    .description("sessions, queued and in-flight messages, retained messages, size")
    .option("--json", "one JSON object instead of text")
    .action(async (dir: string, flags: InspectFlags) => {
      let s: LmdbStore;
      try {
        // Loaded here so other commands never load LMDB's native module.
        const { LmdbStore } = await import("../broker/store/lmdb.js");
        s = await LmdbStore.open(dir);
      } catch (err) {
        process.stderr.write(
          `starling store: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        process.exitCode = 1;
        return;
      }
      try {
        const summary = await s.summary();
        const sessions = await s.listSessions();
        const offline = sessions.filter((x) => x.disconnectedAt !== 0).length;
        if (flags.json) {
          process.stdout.write(
            `${JSON.stringify({ directory: s.directory, ...summary, offlineSessions: offline })}\n`,
          );
          return;
        }
        const rows: [string, string][] = [
          ["directory", s.directory],
          ["format", String(summary.formatVersion)],
          ["size", `${(summary.sizeBytes / 1024 / 1024).toFixed(1)} MiB`],
          ["sessions", `${summary.sessions} (${offline} offline)`],
          ["queued messages", String(summary.queuedMessages)],
          ["in-flight messages", String(summary.inflightMessages)],
          ["retained messages", String(summary.retainedMessages)],
          ["stored payloads", String(summary.storedMessages)],
        ];
        const width = Math.max(...rows.map(([k]) => k.length));
        process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")}\n`);
      } finally {
        await s.close();
      }
    });
}
