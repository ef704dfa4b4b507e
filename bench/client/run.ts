/**
 * `npm run bench:client`: the Starling client against MQTT.js — publish
 * throughput and client CPU per message against one Starling broker running
 * in a child process — and browser bundle sizes against MQTT.js and Paho.
 * Prints markdown for bench/RESULTS.md (progress goes to stderr). A
 * benchmark, not a test; the run takes about a minute.
 *
 * Flags: `--rounds N` (default 5), `--quick` (1 round, small counts: a smoke
 * run of the harness, not a measurement).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { fmtRate } from "../lib/measure.js";
import { bundleTable, measureBundles } from "./bundle.js";
import { type Case, type CaseResult, runThroughput, summarize } from "./throughput.js";

const root = resolve(import.meta.dirname, "../..");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    quick: { type: "boolean", default: false },
  },
});
const rounds = values.quick ? 1 : Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: ${values.rounds}`);
const qos0Count = values.quick ? 2_000 : 20_000;
const qos1Count = values.quick ? 500 : 5_000;
/** Publishes pending at a time in the windowed cases. */
const WINDOW = 100;

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Starts bench/client/broker.ts in its own Node process; resolves with its URL. */
function startBrokerProcess(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "broker.ts")],
    {
      cwd: root,
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error("the broker process did not start within 20 s"));
    }, 20_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`the broker process exited early (${code ?? signal})`));
    });
    createInterface({ input: child.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      ok({ url: (JSON.parse(line) as { url: string }).url, child });
    });
  });
}

function stopBrokerProcess(child: ChildProcess): Promise<void> {
  return new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) return ok();
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      ok();
    });
    child.stdin?.end(); // broker.ts closes when its stdin ends
  });
}

function throughputTable(results: CaseResult[]): string {
  const lines = [
    "| in flight | MQTT | QoS | messages | Starling msg/s | MQTT.js msg/s | ratio | Starling range | MQTT.js range | Starling CPU µs/msg | MQTT.js CPU µs/msg | CPU ratio |",
    "|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|",
  ];
  for (const r of results) {
    const s = summarize(r);
    const range = ([lo, hi]: [number, number]) => `${fmtRate(lo)}–${fmtRate(hi)}`;
    lines.push(
      `| ${r.window === undefined ? "all (burst)" : `≤ ${r.window}`} | ${r.version === 5 ? "5.0" : "3.1.1"} | ${r.qos} | ${r.count.toLocaleString("en")} | ${fmtRate(s.oursRate)} | ${fmtRate(s.theirsRate)} | ${s.rateRatio.toFixed(2)}× | ${range(s.oursRange)} | ${range(s.theirsRange)} | ${s.oursCpu.toFixed(2)} | ${s.theirsCpu.toFixed(2)} | ${s.cpuRatio.toFixed(2)}× |`,
    );
  }
  return lines.join("\n");
}

const started = Date.now();
const require = createRequire(import.meta.url);
const mqttVersion = (require("mqtt/package.json") as { version: string }).version;
const cpu = cpus();
const cases: Case[] = [];
for (const window of [undefined, WINDOW]) {
  for (const version of [4, 5] as const) {
    cases.push(
      { version, qos: 0, count: qos0Count, window },
      { version, qos: 1, count: qos1Count, window },
    );
  }
}

log("bench:client: starting the broker process");
const { url, child } = await startBrokerProcess();
let results: CaseResult[];
try {
  log(`bench:client: publish throughput against ${url}, ${rounds} round(s)`);
  results = await runThroughput(url, cases, rounds, log);
} finally {
  await stopBrokerProcess(child);
}
log("bench:client: bundle sizes");
const bundles = measureBundles();

console.log(`### Client — ${new Date().toISOString().slice(0, 10)}`);
console.log("");
console.log(
  `Node ${process.version}, ${cpu[0]?.model ?? "unknown CPU"} × ${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; MQTT.js ${mqttVersion}; command: \`npm run bench:client${values.quick ? " -- --quick" : ""}\``,
);
console.log("");
console.log(
  `Publish throughput, 64 B payload, one topic, no subscriber, broker in a child process over TCP loopback; "all (burst)": every publish started at once; "≤ ${WINDOW}": at most ${WINDOW} pending. Medians of ${rounds} round(s); ratio = Starling / MQTT.js (CPU: lower is better).`,
);
console.log("");
console.log(throughputTable(results));
console.log("");
console.log("Browser bundles:");
console.log("");
console.log(bundleTable(bundles));
console.log("");
console.log(`Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
