/**
 * `npm run bench:store`: the broker with the durable store (LMDB, `sync =
 * "full"` and `"relaxed"`) against the memory store, as an operator runs it
 * (`node dist/cli/main.js broker -c FILE`, one process per measurement), and
 * its startup time on big data directories. Prints markdown for
 * bench/RESULTS.md (progress goes to stderr). A benchmark, not a test; the
 * full run takes about 4 minutes.
 *
 * 1. Fan-in: 4 QoS 1 publishers → 1 persistent subscriber (fan-in.ts). For
 *    each round, each mode in turn (memory, full, relaxed, memory, …) gets a
 *    fresh broker and data directory and runs a latency window at a fixed
 *    moderate rate, then a throughput window flat out. Medians over rounds;
 *    ratios are the median of the per-round ratios to memory.
 * 2. Startup: data directories written through `LmdbStore` (dataset.ts) —
 *    empty, 100k retained, 1M queued — rebuilt every run; each started
 *    `--startup-rounds` times, interleaved; spawn → `listening on mqtt://`,
 *    then heap and RSS from the broker's `/metrics`.
 *
 * Flags: `--rounds N` (fan-in rounds, default 5), `--startup-rounds N`
 * (default 3), `--rate N` (latency scenario, msg/s in all, default 2000),
 * `--max-inflight N` (the fan-in brokers' `limits.max_inflight`, the
 * subscriber's outbound window; default 400, the publishers' windows
 * together; the broker's own default is 20), `--quick` (1 round, small counts and short windows: a smoke run of the
 * harness in a few seconds, not a measurement).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { LmdbStore } from "../../src/broker/store/lmdb.js";
import { fmtRate } from "../lib/measure.js";
import {
  type BrokerRun,
  brokerArgs,
  type Mode,
  metrics,
  type Restored,
  startBroker,
  writeToml,
} from "./broker-process.js";
import { type Built, buildQueued, buildRetained, diskBytes } from "./dataset.js";
import {
  type FanInOptions,
  type LatencyResult,
  latency,
  PAYLOAD_BYTES,
  type ThroughputResult,
  throughput,
} from "./fan-in.js";

const root = resolve(import.meta.dirname, "../..");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    "startup-rounds": { type: "string", default: "3" },
    rate: { type: "string", default: "2000" },
    "max-inflight": { type: "string", default: "400" },
    quick: { type: "boolean", default: false },
  },
});
const quick = values.quick;
const positive = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: ${v}`);
  return n;
};
const rounds = quick ? 1 : positive("rounds", values.rounds);
const startupRounds = quick ? 1 : positive("startup-rounds", values["startup-rounds"]);
const rate = quick ? 400 : positive("rate", values.rate);
/** `limits.max_inflight` of the fan-in brokers: the subscriber's outbound window (broker default 20). */
const maxInflight = positive("max-inflight", values["max-inflight"]);

const PUBLISHERS = 4;
const WINDOW = 100;
const WARMUP_MS = quick ? 200 : 1_000;
const MEASURE_MS = quick ? 500 : 5_000;
/** A bound on each publisher whatever the speed (far above what 5 s can take here). */
const MAX_PER_PUBLISHER = 5_000_000;
const RETAINED = quick ? 1_000 : 100_000;
const QUEUE_SESSIONS = quick ? 10 : 1_000;
const QUEUE_PER_SESSION = quick ? 100 : 1_000;
const COMMIT_BATCH = 10_000;
const MODES: Mode[] = ["memory", "full", "relaxed"];

const log = (line: string) => process.stderr.write(`${line}\n`);
const cpu = cpus();
const cores = cpu.length;
const started = Date.now();
const load0 = loadavg();

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}
const commit = git(["rev-parse", "--short", "HEAD"]) || "unknown";
const dirtySrc = git(["status", "--porcelain", "--", "src"]) !== "";

log("bench:store: building dist/ (tsc -p tsconfig.json)");
execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, stdio: ["ignore", 2, 2] });

const tmp = mkdtempSync(join(tmpdir(), "starling-bench-store-"));
const running = new Set<BrokerRun>();
let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  log("bench:store: interrupted; stopping brokers and removing temporary files");
  void Promise.all([...running].map((b) => b.stop(5_000))).finally(() => {
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  });
});

async function withBroker<T>(
  toml: string,
  mode: Mode,
  timeoutMs: number,
  body: (b: BrokerRun) => Promise<T>,
): Promise<T> {
  if (interrupted) throw new Error("interrupted");
  const b = await startBroker(brokerArgs(root, toml, mode), root, timeoutMs);
  running.add(b);
  try {
    return await body(b);
  } finally {
    await b.stop(60_000);
    running.delete(b);
  }
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ---- 1. fan-in -------------------------------------------------------------------

interface FanInRound {
  lat: LatencyResult;
  tp: ThroughputResult;
  /** starling_messages_dropped_total at the end. */
  dropped: number;
}

async function fanInOnce(mode: Mode, round: number): Promise<FanInRound> {
  const dir = join(tmp, `fan-in-${round}-${mode}`);
  mkdirSync(dir, { recursive: true });
  const toml = join(dir, "starling.toml");
  // Queues big enough that nothing is dropped when the publishers outrun the subscriber.
  writeToml(toml, {
    mode,
    dataDir: join(dir, "data"),
    maxQueuedMessages: 10_000_000,
    maxQueuedBytes: 2 ** 30,
    maxInflight,
  });
  try {
    return await withBroker(toml, mode, 30_000, async (b) => {
      const o: FanInOptions = {
        port: b.port,
        brokerPid: b.pid,
        publishers: PUBLISHERS,
        window: WINDOW,
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
        maxPerPublisher: MAX_PER_PUBLISHER,
      };
      const lat = await latency(o, rate, cores);
      const tp = await throughput(o, cores);
      const dropped = (await metrics(b.wsPort)).get("starling_messages_dropped_total") ?? 0;
      return { lat, tp, dropped };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fanIn = new Map<Mode, FanInRound[]>(MODES.map((m) => [m, []]));

async function runFanIn(): Promise<void> {
  log(
    `bench:store: fan-in, ${rounds} round(s) × ${MODES.join("/")}: latency at ${rate} msg/s, then throughput (${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms each)`,
  );
  for (let r = 0; r < rounds; r++) {
    for (const mode of MODES) {
      const res = await fanInOnce(mode, r);
      fanIn.get(mode)?.push(res);
      log(
        `  round ${r + 1} ${mode}: ${fmtRate(res.tp.delivered)} msg/s delivered (${fmtRate(res.tp.acked)} acked), ` +
          `e2e p50 ${res.lat.e2eP50.toFixed(2)} ms p99 ${res.lat.e2eP99.toFixed(2)} ms, ` +
          `broker ${res.tp.brokerCpu.toFixed(0)} % / generator ${res.tp.generatorCpu.toFixed(0)} % / other ${res.tp.otherCpu.toFixed(0)} % CPU` +
          (res.dropped > 0 ? `, ${res.dropped} DROPPED` : ""),
      );
    }
  }
}

// ---- 2. startup ------------------------------------------------------------------

type DatasetName = "empty" | "retained" | "queued";
interface Dataset {
  name: DatasetName;
  label: string;
  built: Built;
  toml: string;
}

async function buildEmpty(dir: string): Promise<Built> {
  const t0 = performance.now();
  await (await LmdbStore.open(dir)).close();
  return { dir, buildMs: performance.now() - t0, diskBytes: diskBytes(dir) };
}

interface Start {
  ms: number;
  heap: number;
  rss: number;
  restored: Restored | undefined;
}
const datasets: Dataset[] = [];
const starts = new Map<DatasetName, Start[]>();

async function runStartup(): Promise<void> {
  log("bench:store: building the startup data directories (through LmdbStore, no cache)");
  for (const [name, label, build] of [
    ["empty", "empty store", (d: string) => buildEmpty(d)],
    [
      "retained",
      `${RETAINED.toLocaleString("en")} retained`,
      (d: string) => buildRetained(d, RETAINED, COMMIT_BATCH),
    ],
    [
      "queued",
      `${(QUEUE_SESSIONS * QUEUE_PER_SESSION).toLocaleString("en")} queued (${QUEUE_SESSIONS.toLocaleString("en")} sessions × ${QUEUE_PER_SESSION.toLocaleString("en")})`,
      (d: string) => buildQueued(d, QUEUE_SESSIONS, QUEUE_PER_SESSION, COMMIT_BATCH),
    ],
  ] as const) {
    const dir = join(tmp, `startup-${name}`);
    const built = await build(dir);
    const toml = join(tmp, `startup-${name}.toml`);
    writeToml(toml, { mode: "full", dataDir: dir });
    datasets.push({ name, label, built, toml });
    log(
      `  ${label}: built in ${(built.buildMs / 1000).toFixed(1)} s, ${(built.diskBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  for (const d of datasets) starts.set(d.name, []);
  log(`bench:store: startup, ${startupRounds} round(s) × ${datasets.map((d) => d.name).join("/")}`);
  for (let r = 0; r < startupRounds; r++) {
    for (const d of datasets) {
      const s = await withBroker(d.toml, "full", 300_000, async (b) => {
        const m = await metrics(b.wsPort);
        return {
          ms: b.startMs,
          heap: m.get("nodejs_heap_size_used_bytes") ?? Number.NaN,
          rss: m.get("process_resident_memory_bytes") ?? Number.NaN,
          restored: b.restored,
        };
      });
      starts.get(d.name)?.push(s);
      log(
        `  round ${r + 1} ${d.name}: listening after ${s.ms.toFixed(0)} ms, heap ${(s.heap / 2 ** 20).toFixed(0)} MiB, RSS ${(s.rss / 2 ** 20).toFixed(0)} MiB`,
      );
    }
  }
}

try {
  await runFanIn();
  await runStartup();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// ---- report ------------------------------------------------------------------------

const mib = (n: number) => (n / 2 ** 20).toFixed(0);
const pct = (n: number) => `${n.toFixed(0)} %`;
const ms2 = (n: number) => n.toFixed(2);
const ratio = (n: number) => `${n.toFixed(2)}×`;

/** Median over rounds of `f`, and of `f` / memory's `f` in the same round. */
function stat(mode: Mode, f: (r: FanInRound) => number): { value: number; vsMemory: number } {
  const mine = fanIn.get(mode) ?? [];
  const base = fanIn.get("memory") ?? [];
  return {
    value: median(mine.map(f)),
    vsMemory: median(mine.map((r, i) => f(r) / f(base[i]))),
  };
}

function throughputTable(): string {
  const lines = [
    "| store | delivered msg/s | vs memory | range | acked msg/s | broker CPU | generator CPU | other CPU | broker RSS MiB | dropped |",
    "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const mode of MODES) {
    const rs = fanIn.get(mode) ?? [];
    const d = stat(mode, (r) => r.tp.delivered);
    const rates = rs.map((r) => r.tp.delivered);
    lines.push(
      `| ${mode} | ${fmtRate(d.value)} | ${ratio(d.vsMemory)} | ${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))} | ${fmtRate(stat(mode, (r) => r.tp.acked).value)} | ${pct(stat(mode, (r) => r.tp.brokerCpu).value)} | ${pct(stat(mode, (r) => r.tp.generatorCpu).value)} | ${pct(stat(mode, (r) => r.tp.otherCpu).value)} | ${mib(stat(mode, (r) => r.tp.brokerRss).value)} | ${rs.reduce((s, r) => s + r.dropped, 0)} |`,
    );
  }
  return lines.join("\n");
}

function latencyTable(): string {
  const lines = [
    "| store | sent msg/s | e2e p50 ms | e2e p99 ms | p50 vs memory | p99 vs memory | PUBACK p50 ms | PUBACK p99 ms | PUBACK p50 vs memory | PUBACK p99 vs memory | broker CPU | generator CPU | other CPU | broker RSS MiB | missing |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const mode of MODES) {
    const rs = fanIn.get(mode) ?? [];
    const p50 = stat(mode, (r) => r.lat.e2eP50);
    const p99 = stat(mode, (r) => r.lat.e2eP99);
    const a50 = stat(mode, (r) => r.lat.ackP50);
    const a99 = stat(mode, (r) => r.lat.ackP99);
    lines.push(
      `| ${mode} | ${fmtRate(stat(mode, (r) => r.lat.rate).value)} | ${ms2(p50.value)} | ${ms2(p99.value)} | ${ratio(p50.vsMemory)} | ${ratio(p99.vsMemory)} | ${ms2(a50.value)} | ${ms2(a99.value)} | ${ratio(a50.vsMemory)} | ${ratio(a99.vsMemory)} | ${pct(stat(mode, (r) => r.lat.brokerCpu).value)} | ${pct(stat(mode, (r) => r.lat.generatorCpu).value)} | ${pct(stat(mode, (r) => r.lat.otherCpu).value)} | ${mib(stat(mode, (r) => r.lat.brokerRss).value)} | ${rs.reduce((s, r) => s + r.lat.missing, 0)} |`,
    );
  }
  return lines.join("\n");
}

function startupTable(): string {
  const lines = [
    "| data directory | build s | on disk MiB | restored (sessions / queued / retained) | start → listening ms | range ms | vs empty | heap used MiB | RSS MiB |",
    "|---|---:|---:|---|---:|---|---:|---:|---:|",
  ];
  const emptyMs = median((starts.get("empty") ?? []).map((s) => s.ms));
  for (const d of datasets) {
    const ss = starts.get(d.name) ?? [];
    const ms = ss.map((s) => s.ms);
    const r = ss[ss.length - 1]?.restored;
    const restored = r ? `${r.sessions} / ${r.queued} / ${r.retained}` : "?";
    lines.push(
      `| ${d.label} | ${(d.built.buildMs / 1000).toFixed(1)} | ${mib(d.built.diskBytes)} | ${restored} | ${median(ms).toFixed(0)} | ${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)} | ${ratio(median(ms) / emptyMs)} | ${mib(median(ss.map((s) => s.heap)))} | ${mib(median(ss.map((s) => s.rss)))} |`,
    );
  }
  return lines.join("\n");
}

const flags = process.argv.slice(2).join(" ");
const load1 = loadavg();
console.log(`### Durable store — ${new Date().toISOString().slice(0, 10)}, commit ${commit}`);
console.log("");
console.log(
  `Node ${process.version}, ${cpu[0]?.model ?? "unknown CPU"} × ${cores}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
    `commit ${commit}${dirtySrc ? " + uncommitted changes in src/" : ""}; ` +
    `load average ${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after; ` +
    `command: \`npm run bench:store${flags ? ` -- ${flags}` : ""}\``,
);
console.log("");
console.log(
  `Broker per measurement: \`node dist/cli/main.js broker -c starling.toml --log-format json\` (+ \`--memory\` for memory), ` +
    `TCP and WebSocket listeners on 127.0.0.1 port 0, \`[sys] interval = 0\`; durable modes: \`[persistence] enabled = true, sync = "full" | "relaxed"\`, a fresh data directory under ${tmpdir()}.`,
);
console.log("");
console.log(
  `**Fan-in**: ${PUBLISHERS} MQTT 3.1.1 QoS 1 publishers (≤ ${WINDOW} unacknowledged each) → 1 persistent subscriber (clean session 0, QoS 1, acknowledging), ${PAYLOAD_BYTES} B payloads, one topic, raw sockets with pre-encoded packets in one generator process; fan-in queue limits raised (\`max_queued_messages = 10000000\`, \`max_queued_bytes = 1 GiB\`) so nothing is dropped; \`max_inflight = ${maxInflight}\` (the subscriber's outbound window${maxInflight === PUBLISHERS * WINDOW ? ", the publishers' windows together" : ""}; broker default 20). ` +
    `${rounds} round(s), modes interleaved (memory, full, relaxed, memory, …), each on a fresh broker; medians; "vs memory" = median of the per-round ratios. CPU in % of one core over the window (${cores} cores = ${cores * 100} %): broker from /proc/PID/stat (all its threads, LMDB's included); generator (this process) from process.cpuUsage; other = the rest of the machine from /proc/stat — other people's work on this shared machine, and the kernel's I/O threads.`,
);
console.log("");
console.log(
  `Throughput: every publisher at its window; ${WARMUP_MS} ms warm-up, then ${MEASURE_MS} ms counted. "delivered" = received by the subscriber; "acked" = PUBACKs received by the publishers.`,
);
console.log("");
console.log(throughputTable());
console.log("");
console.log(
  `Latency: ${rate} msg/s in all, paced on a 2 ms tick; messages sent in ${MEASURE_MS} ms after a ${WARMUP_MS} ms warm-up. e2e = publish written → PUBLISH read by the subscriber; PUBACK = publish written → PUBACK read by its publisher.`,
);
console.log("");
console.log(latencyTable());
console.log("");
console.log(
  `**Startup** (\`sync = "full"\`, default limits): data directories written through \`LmdbStore\` (sync relaxed, commits of ${COMMIT_BATCH.toLocaleString("en")}), rebuilt this run; ${PAYLOAD_BYTES} B payloads, QoS 1; queued: offline 3.1.1 persistent sessions (never expiring), one subscription each, one stored message per queue entry. ` +
    `${startupRounds} start(s) each, interleaved; spawn → \`listening on mqtt://\` line; heap (\`nodejs_heap_size_used_bytes\`) and RSS (\`process_resident_memory_bytes\`) from \`/metrics\` right after, no forced GC; medians.`,
);
console.log("");
console.log(startupTable());
console.log("");
console.log(`Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
