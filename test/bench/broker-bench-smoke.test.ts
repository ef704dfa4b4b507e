/**
 * Smoke run of the side-by-side broker benchmark (`npm run bench:broker --
 * --quick`, bench/broker/): the scripts still build mqttload and the
 * generator, start the brokers, run a few scenarios of both kinds
 * (mqttload's and the bench's own generator's, and `conn-max`, which runs
 * both at once: 300 connections held by mqttload, a PINGREQ probe in the
 * generator) and print the table. It
 * checks that they ran and produced numbers, never how fast anything was.
 *
 * Against Starling, and Mosquitto when installed (under CI=true it must be:
 * the project's loud-skip convention, test/helpers/programs.ts). Building
 * mqttload needs `make` and a C compiler; its sources are in
 * bench/broker/mqttload (a copy of the team's ../shared/tools/mqttload).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { requireMosquitto } from "../helpers/mosquitto.js";
import { Programs, requirePrograms, underCI } from "../helpers/programs.js";

const root = new URL("../..", import.meta.url).pathname;
const mqttloadSource = join(
  process.env.MQTTLOAD_SRC ?? join(root, "bench/broker/mqttload"),
  "mqttload.c",
);

function requireMqttloadSource(): string | false {
  if (existsSync(mqttloadSource)) return false;
  const reason = `not found: ${mqttloadSource} (the C load generator bench:broker builds)`;
  if (underCI) throw new Error(`bench prerequisite missing under CI: ${reason}`);
  console.warn(`\n*** SKIPPING the broker bench smoke run: ${reason} ***\n`);
  return reason;
}

const skip = requirePrograms(["make", "cc"], "build-essential") || requireMqttloadSource();
const withMosquitto = requireMosquitto() === false;
const brokers = withMosquitto ? ["starling", "mosquitto"] : ["starling"];

interface Report {
  brokers: string[];
  scenarios: { id: string; metrics: { key: string; label: string }[] }[];
  samples: {
    scenario: string;
    broker: string;
    values?: Record<string, number | null>;
    error?: string;
  }[];
}

describe("bench:broker --quick (smoke)", { skip }, () => {
  const programs = new Programs();
  const dir = mkdtempSync(join(tmpdir(), "starling-bench-broker-smoke-"));
  after(async () => {
    await programs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`runs every quick scenario against ${brokers.join(" and ")} and reports numbers`, async () => {
    const json = join(dir, "result.json");
    const r = await programs.run(
      process.execPath,
      [
        "--import",
        "tsx",
        join(root, "bench/broker/run.ts"),
        "--quick",
        "--brokers",
        brokers.join(","),
        "--json",
        json,
      ],
      { timeoutMs: 55_000 },
    );
    // The markdown report.
    assert.match(r.stdout, /^### Brokers side by side/m);
    assert.match(r.stdout, /\| scenario \| Starling \|/);
    if (withMosquitto) assert.match(r.stdout, /mosquitto version/);

    const report = JSON.parse(readFileSync(json, "utf8")) as Report;
    assert.deepEqual(report.brokers, brokers);
    // mqttload's scenarios and the bench's own generator's both ran.
    const ids = report.scenarios.map((s) => s.id);
    assert.ok(ids.includes("fanin-q0") && ids.includes("conn"), ids.join(","));
    assert.ok(ids.includes("qos2") && ids.includes("retained"), ids.join(","));
    assert.ok(ids.includes("conn-max"), ids.join(","));
    for (const s of report.scenarios) {
      for (const b of brokers) {
        const runs = report.samples.filter((x) => x.scenario === s.id && x.broker === b);
        assert.equal(runs.length, 1, `${s.id} ${b}: one run`);
        const run = runs[0];
        assert.equal(run.error, undefined, `${s.id} ${b} failed: ${run.error}`);
        for (const m of s.metrics) {
          const v = run.values?.[m.key];
          assert.ok(typeof v === "number" && Number.isFinite(v), `${s.id} ${b}: ${m.label} = ${v}`);
        }
        for (const k of ["broker_cpu", "gen_cpu", "other_cpu"]) {
          assert.ok(typeof run.values?.[k] === "number", `${s.id} ${b}: ${k}`);
        }
        // Nothing lost through Starling. Mosquitto 2.0.11 is only required to produce numbers:
        // it drops messages under fast QoS 1/2 fan-in on its defaults (issue 7), which is
        // what the bench is there to show, not a fault of the harness.
        if (b === "starling") assert.equal(run.values?.lost ?? 0, 0, `${s.id}: lost`);
      }
    }
  });
});
