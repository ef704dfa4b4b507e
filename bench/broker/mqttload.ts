/**
 * mqttload (`bench/broker/mqttload/`, a copy of the team's `../shared/tools/mqttload`, a C load generator: one epoll loop,
 * pre-encoded MQTT 3.1.1, a few % of a core) as the broker benchmark uses
 * it: built once per run into a temporary directory, run with a deadline,
 * its one `key=value` result line parsed into numbers.
 */
import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";

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
