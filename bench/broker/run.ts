/**
 * `npm run bench:broker`: Starling, Mosquitto and Aedes side by side
 * (issue 7). Each broker runs as its users run it, in its own process on
 * its defaults (brokers.ts); the load comes from mqttload (a C generator
 * using a few % of a core) or, for what mqttload cannot do (QoS 2, a
 * wildcard-heavy subscription set, a slow consumer, retained-heavy), from
 * this bench's own generator in a separate process (gen/), or from both
 * (`conn-max`: the generator's probe starts mqttload for the bulk). Rounds are
 * interleaved — for each scenario Starling, Mosquitto, Aedes, each on a
 * fresh broker process — and the table shows medians over rounds, with the
 * broker's, the generator's and the rest of the machine's CPU next to
 * every result. Markdown on stdout, progress on stderr.
 *
 * Flags: `--rounds N` (3), `--dur S` measured seconds per run (3),
 * `--warmup S` (1), `--only a,b` scenario ids (see scenarios.ts),
 * `--brokers starling,mosquitto,aedes` (the default; `node-floor` and
 * `node-floor-2`, the Node floor, are opt-in reference points, run only for
 * the scenarios that declare them — brokers.ts), `--quick` (a smoke run of the
 * harness: 1 round, tiny durations and counts, a few scenarios — not a
 * measurement), `--json FILE` (every run's numbers), `--no-build` (use
 * dist/ as it is instead of `tsc -p tsconfig.json`).
 *
 * Mosquitto missing: skipped with a loud warning, or a failure under CI=true.
 * Exit code 1 when any run failed.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { buildSync } from "esbuild";
import {
  ALL_BROKERS,
  BROKERS,
  type BrokerName,
  isFloor,
  LABEL,
  MOSQUITTO,
  type RunningBroker,
  SETTINGS,
  startBroker,
} from "./brokers.js";
import { buildMqttload, type Numbers, runMqttload, runMqttloadConnSummed } from "./mqttload.js";
import { type Sample, table } from "./report.js";
import { type Params, QUICK, SCENARIOS, type Scenario } from "./scenarios.js";

const root = resolve(import.meta.dirname, "../..");
/** mqttload's sources: a copy of the team's ../shared/tools/mqttload kept here (MQTTLOAD_SRC overrides). */
const MQTTLOAD_SOURCE = process.env.MQTTLOAD_SRC ?? resolve(root, "bench/broker/mqttload");

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    dur: { type: "string" },
    warmup: { type: "string" },
    only: { type: "string" },
    brokers: { type: "string", default: BROKERS.join(",") },
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    "no-build": { type: "boolean", default: false },
  },
});

const log = (line: string) => process.stderr.write(`${line}\n`);
const positive = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name}: expected a positive number, got ${v}`);
  return n;
};

const quick = values.quick;
const rounds = quick ? 1 : Math.round(positive("rounds", values.rounds));
const params: Params = {
  dur: positive("dur", values.dur ?? (quick ? "0.5" : "3")),
  warmup: positive("warmup", values.warmup ?? (quick ? "0.3" : "1")),
  quick,
};

const wanted = values.only?.split(",").map((s) => s.trim()) ?? (quick ? QUICK : undefined);
for (const id of wanted ?? []) {
  if (!SCENARIOS.some((s) => s.id === id)) {
    throw new Error(`--only: unknown scenario ${id} (${SCENARIOS.map((s) => s.id).join(", ")})`);
  }
}
const scenarios = SCENARIOS.filter((s) => wanted === undefined || wanted.includes(s.id));

let brokers = values.brokers.split(",").map((s) => s.trim()) as BrokerName[];
for (const b of brokers) {
  if (!ALL_BROKERS.includes(b))
    throw new Error(`--brokers: unknown broker ${b} (${ALL_BROKERS.join(", ")})`);
}
/** The Node floor runs only the scenarios that declare it. */
const runs = (s: Scenario, b: BrokerName) => !isFloor(b) || (s.floor ?? []).includes(b);
if (brokers.includes("mosquitto") && !existsSync(MOSQUITTO)) {
  const why = `${MOSQUITTO} not found (install it with: sudo apt-get install mosquitto)`;
  if (process.env.CI === "true") throw new Error(`bench:broker under CI: ${why}`);
  log(`\n*** bench:broker: SKIPPING Mosquitto: ${why} ***\n`);
  brokers = brokers.filter((b) => b !== "mosquitto");
}

function git(args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

const started = performance.now();
// What is measured: the tree as built now (others may commit while the bench runs).
const commit = git(["rev-parse", "--short", "HEAD"]) || "unknown";
const dirtySrc = git(["status", "--porcelain", "--", "src"]) !== "";
const load0 = loadavg();
const cpu = cpus();
const cores = cpu.length;

if (!values["no-build"]) {
  log("bench:broker: building dist/ (tsc -p tsconfig.json)");
  try {
    execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, stdio: ["ignore", 2, 2] });
  } catch {
    // tsc emits despite type errors (work in progress elsewhere in src/ should not stop a bench).
    if (!existsSync(join(root, "dist/cli/main.js")))
      throw new Error("tsc failed; no dist/cli/main.js");
    log("\n*** bench:broker: tsc reported errors (above); using what it emitted in dist/ ***\n");
  }
}
const tmp = mkdtempSync(join(tmpdir(), "starling-bench-broker-"));
const running = new Set<RunningBroker>();
process.once("SIGINT", () => {
  log("bench:broker: interrupted; stopping brokers, removing temporary files");
  void Promise.all([...running].map((b) => b.stop(2_000))).finally(() => {
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  });
});

log(`bench:broker: building mqttload from ${MQTTLOAD_SOURCE}`);
const mqttload = buildMqttload(MQTTLOAD_SOURCE, join(tmp, "mqttload"));
const paths = { root, mqttload };

/** The generator bundled into one file, so that its process loads no TypeScript loader. */
let genScript: string | undefined;
if (scenarios.some((s) => s.tool === "gen")) {
  genScript = join(tmp, "gen.mjs");
  buildSync({
    entryPoints: [join(root, "bench/broker/gen/main.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: genScript,
    logLevel: "warning",
  });
}

function runGen(s: Extract<Scenario, { tool: "gen" }>, b: RunningBroker): Promise<Numbers> {
  const deadlineMs = s.deadlineMs(params);
  const req = {
    ...s.request(params),
    port: b.port,
    brokerPid: b.pid,
    brokerPids: b.pids,
    cores,
    mqttload,
    deadlineMs,
  };
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [genScript as string, JSON.stringify(req)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), deadlineMs + 10_000);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").pop() ?? "";
      let parsed: { ok: boolean; result?: Record<string, number | null>; error?: string };
      try {
        parsed = JSON.parse(line);
      } catch {
        reject(new Error(`generator exited with ${code ?? signal}, no result\n${out}${err}`));
        return;
      }
      if (!parsed.ok || parsed.result === undefined) {
        reject(new Error(`generator: ${parsed.error}\n${err}`));
        return;
      }
      const r: Numbers = {};
      for (const [k, v] of Object.entries(parsed.result)) r[k] = v ?? Number.NaN; // JSON has no NaN
      resolvePromise(r);
    });
  });
}

async function runOnce(s: Scenario, name: BrokerName, round: number): Promise<Sample> {
  const t0 = performance.now();
  const dir = join(tmp, `${round}-${s.id}-${name}`);
  let b: RunningBroker | undefined;
  try {
    b = await startBroker(name, dir, paths);
    running.add(b);
    let values: Numbers;
    if (s.tool === "mqttload") {
      const args = [...s.args(params), "--port", String(b.port), "--pid", String(b.pid)];
      const deadlineMs = (params.warmup + params.dur + 60) * 1000;
      values =
        b.pids.length > 1
          ? await runMqttloadConnSummed(mqttload, args, deadlineMs, b.pids)
          : await runMqttload(mqttload, args, deadlineMs);
    } else {
      values = await runGen(s, b);
    }
    if (b.exited()) throw new Error(`${LABEL[name]} exited during the run\n${b.tail()}`);
    s.derive?.(values);
    return {
      scenario: s.id,
      broker: name,
      round,
      values,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    const error = (e as Error).message;
    return { scenario: s.id, broker: name, round, error, seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (b !== undefined) {
      await b.stop();
      running.delete(b);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const num = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);

function progress(s: Scenario, x: Sample): void {
  const head = `  round ${x.round + 1}/${rounds} ${s.id} ${x.broker} (${x.seconds.toFixed(1)} s):`;
  if (x.values === undefined) {
    log(`${head} FAILED: ${x.error}`);
    return;
  }
  const v = x.values;
  const shown = s.metrics.map((m) => `${m.key} ${m.format(v[m.key] ?? Number.NaN)}`).join(", ");
  log(
    `${head} ${shown}; CPU broker ${num(v.broker_cpu * 100)} %, gen ${num(v.gen_cpu * 100)} %, other ${num(v.other_cpu * 100)} %` +
      (v.lost ? `; LOST ${v.lost}` : ""),
  );
}

const samples: Sample[] = [];
log(
  `bench:broker: ${rounds} round(s) × ${scenarios.length} scenario(s) × ${brokers.join("/")}, ${params.warmup} s warm-up + ${params.dur} s per run`,
);
try {
  for (let r = 0; r < rounds; r++) {
    for (const s of scenarios) {
      for (const name of brokers) {
        if (!runs(s, name)) continue;
        const x = await runOnce(s, name, r);
        samples.push(x);
        progress(s, x);
      }
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// ---- report ---------------------------------------------------------------------

const load1 = loadavg();
const totalS = (performance.now() - started) / 1000;
const mosquittoVersion = brokers.includes("mosquitto")
  ? (() => {
      try {
        return execFileSync(MOSQUITTO, ["-h"], { encoding: "utf8" }).split("\n")[0].trim();
      } catch (e) {
        // `mosquitto -h` exits non-zero after printing its usage.
        const out = String((e as { stdout?: string }).stdout ?? "");
        return out.split("\n")[0].trim() || "mosquitto (version unknown)";
      }
    })()
  : "";
const aedesVersion = (
  JSON.parse(readFileSync(join(root, "node_modules/aedes/package.json"), "utf8")) as {
    version: string;
  }
).version;
const flags = process.argv.slice(2).join(" ");
const failures = samples.filter((x) => x.error !== undefined);

const out: string[] = [];
out.push(`### Brokers side by side — ${new Date().toISOString().slice(0, 10)}, commit ${commit}`);
out.push("");
out.push(
  `Node ${process.version}, ${cpu[0]?.model ?? "unknown CPU"} × ${cores}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
    `commit ${commit}${dirtySrc ? " + uncommitted changes in src/" : ""} (as built at the start); ` +
    [
      brokers.includes("mosquitto") ? mosquittoVersion : "",
      brokers.includes("aedes") ? `Aedes ${aedesVersion}` : "",
    ]
      .filter((x) => x !== "")
      .join(", ") +
    `; load average ${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after; ` +
    `command: \`npm run bench:broker${flags ? ` -- ${flags}` : ""}\``,
);
out.push("");
out.push(
  `${rounds} round(s), interleaved (each scenario: ${brokers.map((b) => LABEL[b]).join(", ")}, each on a fresh broker process), ${params.warmup} s warm-up + ${params.dur} s measured per run; medians over rounds. ` +
    `CPU in % of one core (${cores} cores = ${cores * 100} %) over the measured window: broker from /proc/PID/stat, generator (mqttload or this bench's own) its own, other = the rest of the machine from /proc/stat (other people's work on this shared machine: the noise). Lost = messages not delivered over all rounds (connections failed, or closed by the broker, for the connection scenarios).`,
);
out.push("");
out.push(table(samples, scenarios, brokers));
out.push("");
const floors = brokers.filter(isFloor);
if (floors.length > 0) {
  out.push(
    `${floors.map((b) => LABEL[b]).join(" and ")}: not brokers and not peers — a bare \`node:net\` forwarder (bench/broker/node-floor.mjs), the least a Node process can do to pass a scenario: the floor any Node broker pays. Run only for the scenarios that declare it (the others show "–"), never counted as Starling's best peer. ` +
      `"Starling / Node floor" is Starling's median over the single-process floor's (Starling is one process too); "Node floor / Mosquitto" the floor's over Mosquitto's — below 1× for a higher-is-better row (above for lower-is-better), Node alone already trails Mosquitto there.`,
  );
  out.push("");
}
out.push("Scenarios (64 B payloads and MQTT 3.1.1 unless said otherwise):");
out.push("");
for (const s of scenarios) out.push(`- \`${s.id}\`: ${s.describe(params)}`);
out.push("");
out.push("Brokers:");
out.push("");
for (const b of brokers) out.push(`- ${LABEL[b]}: ${SETTINGS[b]}`);
out.push("");
if (failures.length > 0) {
  out.push(`Failed runs (${failures.length}):`);
  out.push("");
  for (const f of failures) {
    out.push(`- round ${f.round + 1} ${f.scenario} ${f.broker}: ${f.error?.split("\n")[0]}`);
  }
  out.push("");
}
out.push(`Total bench time: ${totalS.toFixed(0)} s.`);
console.log(out.join("\n"));

if (values.json !== undefined) {
  writeFileSync(
    values.json,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        commit,
        node: process.version,
        cpu: cpu[0]?.model,
        cores,
        params,
        rounds,
        brokers,
        scenarios: scenarios.map((s) => ({
          id: s.id,
          floor: s.floor ?? [],
          metrics: s.metrics.map((m) => ({ key: m.key, label: m.label, higher: m.higher })),
        })),
        samples,
        totalS,
      },
      (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
      2,
    ),
  );
}
process.exitCode = failures.length > 0 ? 1 : 0;
