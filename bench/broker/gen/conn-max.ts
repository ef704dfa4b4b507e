/**
 * As many connections as the file limit allows: mqttload (a separate C
 * process, started from here) opens N idle connections and holds them,
 * while a PINGREQ probe in this process (one more connection) measures how
 * responsive the broker stays. N = the broker's open-file limit, or
 * mqttload's if lower, minus a margin for the broker's other descriptors.
 * mqttload spreads them over source addresses 127.0.0.1…k (≤ 8000 each):
 * from one source address, connect() past ~14k connections to one port
 * spends milliseconds each searching for a free ephemeral port in the
 * kernel, and the opening would time the generator, not the broker.
 *
 * Phases, on the probe's clock: baseline (the probe alone), opening (from
 * starting mqttload to its last CONNACK), settling (a pause, reported but
 * not compared), held (all N open and idle). Reports the probe's p50, p99
 * and max in each, the connections held, failed and dropped, the broker's
 * RSS and the CPU of the broker, the generator (this process and mqttload)
 * and everything else, per phase. A broker of several processes (the
 * 2-worker Node floor, `brokerPids`): the sums of their RSS and CPU.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { cpuMs } from "../../store/broker-process.js";
import { type Numbers, parseLine } from "../mqttload.js";
import { PingProbe } from "./ping-probe.js";
import {
  brokerRssBytes,
  type GenResult,
  type Mark,
  mark,
  rssPeak,
  sleep,
  type Usage,
  usage,
  Wire,
  within,
} from "./wire.js";

export interface ConnMaxOptions {
  port: number;
  brokerPid: number;
  /**
   * Every process of the broker when it has several (the 2-worker Node
   * floor: the primary, then its workers): its CPU and RSS are their sums.
   */
  brokerPids?: readonly number[];
  cores: number;
  /** The mqttload binary. */
  mqttload: string;
  /** Descriptors left to the broker's (and mqttload's) own use: N = file limit − margin. */
  margin: number;
  /** At most this many connections (a smoke run), whatever the limit. */
  cap?: number;
  /** mqttload's handshakes at a time. */
  conc: number;
  /** The probe's PINGREQ interval, ms. */
  pingEveryMs: number;
  /** How long each phase lasts, ms (opening: as long as it takes). */
  baselineMs: number;
  settleMs: number;
  heldMs: number;
}

/** The soft and hard open-file limits of process `pid` (/proc/PID/limits). */
export function fileLimit(pid: number | "self"): { soft: number; hard: number } {
  const text = readFileSync(`/proc/${pid}/limits`, "utf8");
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (m === null) throw new Error(`no "Max open files" in /proc/${pid}/limits`);
  const n = (s: string) => (s === "unlimited" ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}

/**
 * mqttload's setup budget for `conns` connections (its own rule: 15 s + 1 s
 * per 1000), s.
 */
export const setupBudgetS = (conns: number) => 15 + conns / 1000;

/** mqttload running `conn --hold`: its `phase=connected` line, then its result once stopped. */
class Holder {
  readonly #child: ChildProcess;
  readonly connected: Promise<Numbers>;
  readonly exited: Promise<Numbers>;
  #stderr = "";

  constructor(bin: string, args: string[]) {
    this.#child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    // If this process ends first (its deadline), the connections go with it.
    process.once("exit", () => this.#child.kill("SIGKILL"));
    this.#child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      if (this.#stderr.length < 8192) this.#stderr += d;
    });
    let result: Numbers | undefined;
    const lines = createInterface({ input: this.#child.stdout as NodeJS.ReadableStream });
    this.connected = new Promise((resolve, reject) => {
      lines.on("line", (line) => {
        if (!line.startsWith("scenario=conn")) return;
        if (line.includes(" phase=connected")) resolve(parseLine(line));
        else result = parseLine(line);
      });
      this.#child.once("exit", (code, signal) =>
        reject(new Error(`mqttload exited (${code ?? signal}) before connecting\n${this.#stderr}`)),
      );
    });
    this.exited = new Promise((resolve, reject) => {
      this.#child.once("close", (code, signal) => {
        if (result !== undefined) resolve(result);
        else
          reject(
            new Error(`mqttload exited (${code ?? signal}) without a result\n${this.#stderr}`),
          );
      });
    });
    // Either may go unawaited when the other fails first.
    this.connected.catch(() => {});
    this.exited.catch(() => {});
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** CPU time of mqttload so far, ms (0 once it is gone). */
  cpuMs(): number {
    try {
      return cpuMs(this.pid);
    } catch {
      return 0;
    }
  }

  /** SIGTERM (mqttload prints its result, closes its connections and exits), SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<Numbers> {
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A mark with mqttload's CPU time and the broker's RSS (KiB) then. */
interface PhaseMark {
  m: Mark;
  load: number;
  rssKb: number;
}

/** CPU between two marks, the generator's including mqttload's; RSS at the second. */
function usageWithLoad(a: PhaseMark, b: PhaseMark, o: ConnMaxOptions): Usage {
  const u = usage(a.m, b.m, o.brokerPids ?? o.brokerPid, o.cores);
  const load = (b.load - a.load) / Math.max(b.m.t - a.m.t, 1e-3);
  return {
    gen_cpu: u.gen_cpu + load,
    broker_cpu: u.broker_cpu,
    other_cpu: Math.max(0, u.other_cpu - load),
    broker_rss_kb: b.rssKb,
  };
}

/** mqttload's connections per source address: under the ~14k past which connect() gets slow. */
const PER_SOURCE = 8000;

export async function connMax(o: ConnMaxOptions): Promise<GenResult> {
  const limit = fileLimit(o.brokerPid).soft;
  // mqttload raises its soft limit to its hard one, which it inherits from this process.
  const own = fileLimit("self").hard;
  const conns = Math.min(limit, own) - o.margin;
  const target = Math.min(conns, o.cap ?? conns);
  if (target < 1) throw new Error(`file limit ${Math.min(limit, own)} leaves no connections`);

  const wire = await Wire.open(o.port, "bb-connmax-probe");
  const probe = new PingProbe(wire, o.pingEveryMs);
  let holder: Holder | undefined;
  const pids = o.brokerPids ?? o.brokerPid;
  const at = (): PhaseMark => ({
    m: mark(pids),
    load: holder?.cpuMs() ?? 0,
    rssKb: brokerRssBytes(pids) / 1024,
  });
  try {
    probe.start();
    const t0 = at();
    await sleep(o.baselineMs);

    const t1 = at();
    probe.ping();
    const peak = rssPeak(pids);
    holder = new Holder(o.mqttload, [
      "--scenario",
      "conn",
      "--port",
      String(o.port),
      "--pid",
      String(o.brokerPid),
      "--conns",
      String(target),
      "--conc",
      String(o.conc),
      // At least 2, so that a smoke run takes the same path as a full one.
      "--src-addrs",
      String(Math.max(2, Math.ceil(target / PER_SOURCE))),
      "--keepalive",
      "60",
      // Its `phase=connected` line right after the last CONNACK; settling is timed here.
      "--settle",
      "0",
      // A bound: it is stopped (SIGTERM) once the held phase is over.
      "--hold",
      String(Math.ceil((o.settleMs + o.heldMs) / 1000) + 30),
    ]);
    const opened = await within(
      holder.connected,
      (setupBudgetS(target) + 15) * 1000,
      `mqttload opening ${target} connections`,
    );
    const t2 = at();
    probe.ping();
    await sleep(o.settleMs);
    const t3 = at();
    probe.ping();
    await sleep(o.heldMs);
    const t4 = at();
    const rssPeakKb = peak.stop();
    await probe.stop(2_000);
    if (wire.closed) throw new Error("the broker closed the probe's connection");
    const result = await holder.stop(5_000);

    const base = probe.phase(t0.m.t, t1.m.t);
    const open = probe.phase(t1.m.t, t2.m.t);
    const settle = probe.phase(t2.m.t, t3.m.t);
    const held = probe.phase(t3.m.t, t4.m.t);
    const uBase = usageWithLoad(t0, t1, o);
    const uOpen = usageWithLoad(t1, t2, o);
    const uHeld = usageWithLoad(t3, t4, o);
    const stillOpen = result.connected - result.dropped;
    return {
      file_limit: limit,
      conns: target,
      connected: result.connected,
      failed: result.failed,
      dropped: result.dropped,
      held: stillOpen,
      lost: target - stillOpen,
      connected_at_open: opened.connected,
      connect_s: result.connect_s,
      conn_rate: result.conn_rate,
      hs_p99_us: result.hs_p99_us,
      mqttload_rss_kb: result.gen_rss_kb,
      ping_every_ms: o.pingEveryMs,
      pings: probe.sent,
      pings_unanswered: probe.unanswered,
      base_p50_us: base.p50,
      base_p99_us: base.p99,
      base_max_us: base.max,
      base_n: base.n,
      open_s: (t2.m.t - t1.m.t) / 1000,
      open_p50_us: open.p50,
      open_p99_us: open.p99,
      open_max_us: open.max,
      open_n: open.n,
      settle_p50_us: settle.p50,
      settle_p99_us: settle.p99,
      settle_max_us: settle.max,
      held_p50_us: held.p50,
      held_p99_us: held.p99,
      held_max_us: held.max,
      held_n: held.n,
      p99_ratio: held.p99 / base.p99,
      rss_before_kb: uBase.broker_rss_kb,
      rss_peak_kb: rssPeakKb,
      broker_rss_kb: uHeld.broker_rss_kb,
      rss_per_conn_b:
        stillOpen > 0
          ? ((uHeld.broker_rss_kb - uBase.broker_rss_kb) * 1024) / stillOpen
          : Number.NaN,
      base_broker_cpu: uBase.broker_cpu,
      base_gen_cpu: uBase.gen_cpu,
      base_other_cpu: uBase.other_cpu,
      open_broker_cpu: uOpen.broker_cpu,
      open_gen_cpu: uOpen.gen_cpu,
      open_other_cpu: uOpen.other_cpu,
      broker_cpu: uHeld.broker_cpu,
      gen_cpu: uHeld.gen_cpu,
      other_cpu: uHeld.other_cpu,
    };
  } finally {
    await probe.stop(0);
    wire.close();
    await holder?.stop(5_000).catch(() => {});
  }
}
