/**
 * mqttload (`bench/broker/mqttload/`, a copy of the team's `../shared/tools/mqttload`, a C load generator: one epoll loop,
 * pre-encoded MQTT 3.1.1, a few % of a core) as the broker benchmark uses
 * it: built once per run into a temporary directory, run with a deadline,
 * its one `key=value` result line parsed into numbers.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { cpuMs, rssBytes } from "../store/broker-process.js";

/** Copies the mqttload sources from `source` into `dir` and builds them; returns the binary. */
export function buildMqttload(source: string, dir: string): string {
  if (!existsSync(join(source, "mqttload.c"))) {
    throw new Error(`mqttload sources not found in ${source}`);
  }
  cpSync(source, dir, { recursive: true });
  execFileSync("make", ["-s", "-C", dir, "mqttload"], { stdio: ["ignore", "ignore", 2] });
  return join(dir, "mqttload");
}

/** mqttload's result line, numbers as numbers (a non-numeric value such as `scenario` is dropped). */
export type Numbers = Record<string, number>;

/** Parses `k=v k=v …`. */
export function parseLine(line: string): Numbers {
  const out: Numbers = {};
  for (const pair of line.trim().split(/\s+/)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const v = Number(pair.slice(eq + 1));
    if (!Number.isNaN(v)) out[pair.slice(0, eq)] = v;
  }
  return out;
}

/**
 * Runs mqttload with `args` and resolves with its result line. mqttload
 * bounds itself (setup timeout + warm-up + duration + drain + a hard
 * deadline); `deadlineMs` is a second bound, past which it is killed.
 */
export function runMqttload(bin: string, args: string[], deadlineMs: number): Promise<Numbers> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { timeout: deadlineMs, killSignal: "SIGKILL", maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const line = stdout
          .split("\n")
          .reverse()
          .find((l) => l.startsWith("scenario="));
        if (err || line === undefined) {
          reject(
            new Error(
              `mqttload ${args.join(" ")} failed (${err?.message ?? "no result line"})\n${stdout}${stderr}`,
            ),
          );
          return;
        }
        resolve(parseLine(line));
      },
    );
  });
}

/**
 * Waits until a broker on `port` answers a CONNECT (mqttload's `probe`,
 * retried within `timeoutS`); rejects early if `gone()` says the process died.
 */
export async function probe(
  bin: string,
  port: number,
  timeoutS: number,
  gone: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    if (gone()) throw new Error("the process exited");
    try {
      const r = await runMqttload(
        bin,
        ["--scenario", "probe", "--port", String(port), "--setup-timeout", "1"],
        5_000,
      );
      if (r.ok === 1) return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    if (Date.now() > deadline) throw new Error(`no CONNACK on port ${port} within ${timeoutS} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** CPU time so far of all of `pids`, ms. */
export const cpuMsOf = (pids: readonly number[]) => pids.reduce((n, pid) => n + cpuMs(pid), 0);
/** RSS of all of `pids` together, bytes. */
export const rssBytesOf = (pids: readonly number[]) =>
  pids.reduce((n, pid) => n + rssBytes(pid), 0);

/**
 * mqttload's `conn` scenario against a broker of several processes (the
 * 2-worker Node floor): mqttload reads the CPU and RSS of one pid, the
 * first of `pids`, so its broker figures are replaced by the sums over all
 * of them, measured here. mqttload runs with `--settle 0 --hold …`, so that
 * it prints its `phase=connected` line at most one 20 ms loop turn after the
 * last CONNACK: broker CPU = their CPU time from just before mqttload starts
 * to that line, over that wall time; RSS = their VmRSS summed just before it
 * starts and `settle` s (mqttload's `--settle` in `args`, 2 by default: when
 * mqttload alone would read it) after the line; then it is stopped (SIGTERM:
 * it prints its result and closes). mqttload's own single-pid figures are
 * kept under `primary_…`.
 */
export function runMqttloadConnSummed(
  bin: string,
  args: string[],
  deadlineMs: number,
  pids: readonly number[],
): Promise<Numbers> {
  if (args[args.indexOf("--scenario") + 1] !== "conn") {
    throw new Error("a broker of several processes is measured in mqttload's conn scenario only");
  }
  const rest = [...args];
  let settleS = 2;
  const at = rest.indexOf("--settle");
  if (at >= 0) settleS = Number(rest.splice(at, 2)[1]);
  const full = [...rest, "--settle", "0", "--hold", String(Math.ceil(settleS) + 30)];
  return new Promise((resolve, reject) => {
    const rssBefore = rssBytesOf(pids) / 1024;
    const cpuBefore = cpuMsOf(pids);
    const t0 = performance.now();
    const child = spawn(bin, full, { stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 8192) stderr += d;
    });
    let cpu = Number.NaN;
    let rss = Number.NaN;
    let result: Numbers | undefined;
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (!line.startsWith("scenario=conn")) return;
      if (!line.includes(" phase=connected")) {
        result = parseLine(line);
        return;
      }
      cpu = (cpuMsOf(pids) - cpuBefore) / Math.max(performance.now() - t0, 1e-3);
      setTimeout(() => {
        try {
          rss = rssBytesOf(pids) / 1024;
        } catch {
          // a process is gone: the run fails below (the broker exited)
        }
        child.kill("SIGTERM");
      }, settleS * 1000);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (result === undefined) {
        reject(new Error(`mqttload ${full.join(" ")} failed (${code ?? signal})\n${stderr}`));
        return;
      }
      const r = result;
      for (const k of ["broker_cpu", "other_cpu", "rss_before_kb", "rss_kb", "hwm_kb"]) {
        r[`primary_${k}`] = r[k];
      }
      r.primary_rss_delta_kb = r.rss_delta_kb;
      r.primary_rss_per_conn_b = r.rss_per_conn_b;
      // Workers' CPU was "other" for mqttload.
      r.other_cpu = Math.max(0, r.other_cpu + r.primary_broker_cpu - cpu);
      r.broker_cpu = cpu;
      r.rss_before_kb = rssBefore;
      r.rss_kb = rss;
      r.hwm_kb = Number.NaN; // peaks of different moments do not add up
      r.rss_delta_kb = rss - rssBefore;
      r.rss_per_conn_b = r.connected > 0 ? ((rss - rssBefore) * 1024) / r.connected : Number.NaN;
      r.rss_settle_s = settleS;
      resolve(r);
    });
  });
}
