/**
 * One `starling broker` process started as an operator starts it — the
 * built CLI (`node dist/cli/main.js broker -c FILE`) — for the store
 * benchmark, and what can be read about it from outside: its CPU time and
 * RSS from /proc, and its Prometheus `/metrics`.
 *
 * Everything binds to 127.0.0.1 on ports the OS picks (port 0 in the
 * generated starling.toml); the ports are read from the broker's
 * `listening on mqtt://…` and `listening on ws://…` log lines.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

/** How the broker keeps state: `--memory`, or the LMDB store with `persistence.sync`. */
export type Mode = "memory" | "full" | "relaxed";

export interface TomlOptions {
  /** The data directory; ignored for `memory`. */
  dataDir?: string;
  mode: Mode;
  /** `limits.max_queued_messages`; the broker's default (1000) when absent. */
  maxQueuedMessages?: number;
  /** `limits.max_queued_bytes`; the broker's default (16 MiB) when absent. */
  maxQueuedBytes?: number;
  /** `limits.max_inflight` (outbound, per 3.1.x client); the broker's default (20) when absent. */
  maxInflight?: number;
}

/**
 * Writes the starling.toml of one benchmark broker: an MQTT and a WebSocket
 * listener (for `/metrics`) on loopback with OS-chosen ports, `$SYS` off, and
 * the `[persistence]` section of `mode`.
 */
export function writeToml(file: string, o: TomlOptions): void {
  const lines = [
    "# written by bench/store (npm run bench:store)",
    "[[listeners]]",
    'type = "mqtt"',
    'host = "127.0.0.1"',
    "port = 0",
    "",
    "[[listeners]]",
    'type = "ws"',
    'host = "127.0.0.1"',
    "port = 0",
    'path = "/mqtt"',
    "",
    "[sys]",
    "interval = 0",
    "",
  ];
  if (
    o.maxQueuedMessages !== undefined ||
    o.maxQueuedBytes !== undefined ||
    o.maxInflight !== undefined
  ) {
    lines.push("[limits]");
    if (o.maxInflight !== undefined) lines.push(`max_inflight = ${o.maxInflight}`);
    if (o.maxQueuedMessages !== undefined)
      lines.push(`max_queued_messages = ${o.maxQueuedMessages}`);
    if (o.maxQueuedBytes !== undefined) lines.push(`max_queued_bytes = ${o.maxQueuedBytes}`);
    lines.push("");
  }
  if (o.mode === "memory") {
    lines.push("[persistence]", "enabled = false", "");
  } else {
    if (o.dataDir === undefined) throw new Error(`mode ${o.mode} needs a data directory`);
    lines.push(
      "[persistence]",
      "enabled = true",
      `location = ${JSON.stringify(o.dataDir)}`,
      `sync = "${o.mode}"`,
      "",
    );
  }
  writeFileSync(file, lines.join("\n"));
}

/** The CLI arguments (after `node`) that start the broker on `toml`. */
export function brokerArgs(root: string, toml: string, mode: Mode): string[] {
  return [
    join(root, "dist/cli/main.js"),
    "broker",
    "-c",
    toml,
    "--log-format",
    "json",
    ...(mode === "memory" ? ["--memory"] : []),
  ];
}

export interface Restored {
  sessions: number;
  queued: number;
  retained: number;
}

export interface BrokerRun {
  readonly pid: number;
  readonly port: number;
  /** The WebSocket listener's port, which also serves `/metrics`. */
  readonly wsPort: number;
  /** Milliseconds from spawn to the `listening on mqtt://` line. */
  readonly startMs: number;
  /** What the broker logged it restored from its store (undefined with `--memory`). */
  readonly restored: Restored | undefined;
  /** The last lines the broker logged (for error messages). */
  tail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

interface LogLine {
  msg?: string;
  sessions?: number;
  queued?: number;
  retained?: number;
  level?: number;
}

/**
 * Spawns `node ARGS` (see {@link brokerArgs}) and resolves once both
 * listeners are up; rejects (killing the process) if it exits first or is
 * not listening within `timeoutMs`.
 */
export function startBroker(args: string[], cwd: string, timeoutMs: number): Promise<BrokerRun> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const tail: string[] = [];
  let port: number | undefined;
  let wsPort: number | undefined;
  let startMs = 0;
  let restored: Restored | undefined;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));

  const stop = async (graceMs = 30_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };

  return new Promise<BrokerRun>((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`starling broker ${why}:\n${tail.join("\n")}`));
    };
    const timer = setTimeout(() => fail(`was not listening within ${timeoutMs} ms`), timeoutMs);
    child.once("error", (e) => fail(`could not be spawned (${e.message})`));
    child.once("exit", (code, signal) => fail(`exited early (${code ?? signal})`));
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      let rec: LogLine;
      try {
        rec = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      const msg = rec.msg ?? "";
      if (msg.startsWith("restored ")) {
        restored = {
          sessions: rec.sessions ?? 0,
          queued: rec.queued ?? 0,
          retained: rec.retained ?? 0,
        };
      }
      const mqtt = /^listening on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(msg);
      if (mqtt) {
        port = Number(mqtt[1]);
        startMs = performance.now() - t0;
      }
      const ws = /^listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(msg);
      if (ws) wsPort = Number(ws[1]);
      if (!settled && port !== undefined && wsPort !== undefined) {
        settled = true;
        clearTimeout(timer);
        resolve({
          pid: child.pid as number,
          port,
          wsPort,
          startMs,
          restored,
          tail: () => tail.join("\n"),
          stop,
        });
      }
    };
    // Both streams are read to the end, so that a chatty broker never blocks on a full pipe.
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", onLine);
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", onLine);
  });
}

/** Clock ticks per second of /proc's CPU times. */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of process `pid` so far, in milliseconds (/proc/PID/stat). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "(comm) ": state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resident set size of process `pid`, in bytes (/proc/PID/status VmRSS). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Busy and total CPU time of the whole machine so far, in clock ticks (/proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  // idle and iowait are not busy.
  return { busy: total - t[3] - t[4], total };
}

/** The unlabelled or summed samples of the broker's `/metrics`, by metric name. */
export async function metrics(wsPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${wsPort}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[3]));
  }
  return out;
}
