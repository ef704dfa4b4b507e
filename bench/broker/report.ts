/**
 * The broker benchmark's markdown: one row per metric, the brokers' medians
 * over rounds side by side, Starling / best peer (Mosquitto or Aedes, never
 * the Node floor), with the Node floor in the run Starling / Node floor and
 * Node floor / Mosquitto, and next to every result the CPU of the broker, of
 * the generator and of everything else on the machine (the noise), and the
 * messages lost.
 */
import { type BrokerName, LABEL, PEERS, SHORT } from "./brokers.js";
import type { Numbers } from "./mqttload.js";
import type { Metric, Scenario } from "./scenarios.js";

/** One run: a scenario against a broker in a round. */
export interface Sample {
  scenario: string;
  broker: BrokerName;
  round: number;
  /** The run's numbers; absent when it failed. */
  values?: Numbers;
  error?: string;
  /** Wall time of the run, broker start to stop, s. */
  seconds: number;
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median over rounds of `key` for one scenario and broker. */
export function med(samples: Sample[], scenario: string, broker: BrokerName, key: string): number {
  return median(
    samples
      .filter((s) => s.scenario === scenario && s.broker === broker && s.values !== undefined)
      .map((s) => s.values?.[key] ?? Number.NaN),
  );
}

/** Messages lost (or connections failed) over all rounds. */
export function lostTotal(samples: Sample[], scenario: string, broker: BrokerName): number {
  return samples
    .filter((s) => s.scenario === scenario && s.broker === broker)
    .reduce((n, s) => n + Math.max(0, s.values?.lost ?? 0), 0);
}

/**
 * Starling's median over the best peer's (the highest, or the lowest for
 * lower-is-better); peers are Mosquitto and Aedes only.
 */
export function ratioToBest(
  samples: Sample[],
  scenario: string,
  metric: Metric,
  brokers: readonly BrokerName[],
): number {
  const peers = brokers
    .filter((b) => PEERS.includes(b))
    .map((b) => med(samples, scenario, b, metric.key))
    .filter((x) => Number.isFinite(x));
  if (metric.noRatio || !brokers.includes("starling") || peers.length === 0) return Number.NaN;
  const best = metric.higher ? Math.max(...peers) : Math.min(...peers);
  return best > 0 ? med(samples, scenario, "starling", metric.key) / best : Number.NaN;
}

/** `a`'s median over `b`'s (NaN when either is missing, or for a `noRatio` row). */
export function ratioOf(
  samples: Sample[],
  scenario: string,
  metric: Metric,
  a: BrokerName,
  b: BrokerName,
): number {
  if (metric.noRatio) return Number.NaN;
  const y = med(samples, scenario, b, metric.key);
  return y > 0 ? med(samples, scenario, a, metric.key) / y : Number.NaN;
}

const pct = (cores: number) => (Number.isFinite(cores) ? (cores * 100).toFixed(0) : "–");
const fmtRatio = (r: number, m: Metric) =>
  Number.isFinite(r) ? `${r.toFixed(2)}×${m.higher ? "" : " (lower is better)"}` : "–";

export function table(
  samples: Sample[],
  scenarios: readonly Scenario[],
  brokers: readonly BrokerName[],
): string {
  const names = brokers.map((b) => LABEL[b]);
  const short = brokers.map((b) => SHORT[b]).join(" / ");
  const withPeers = brokers.includes("starling") && brokers.some((b) => PEERS.includes(b));
  const vsFloor = brokers.includes("starling") && brokers.includes("node-floor");
  const floorVsMosquitto = brokers.includes("node-floor") && brokers.includes("mosquitto");
  const head = [
    "scenario",
    ...names,
    ...(withPeers ? ["Starling / best peer"] : []),
    ...(vsFloor ? ["Starling / Node floor"] : []),
    ...(floorVsMosquitto ? ["Node floor / Mosquitto"] : []),
    `broker CPU % (${short})`,
    `generator CPU % (${short})`,
    `other CPU % (${short})`,
    `lost (${short})`,
  ];
  const lines = [
    `| ${head.join(" | ")} |`,
    `|---|${head
      .slice(1)
      .map(() => "---:")
      .join("|")}|`,
  ];
  for (const s of scenarios) {
    const failed = (b: BrokerName) =>
      samples.some((x) => x.scenario === s.id && x.broker === b && x.error !== undefined);
    const ran = (b: BrokerName) => samples.some((x) => x.scenario === s.id && x.broker === b);
    const triple = (key: string) => brokers.map((b) => pct(med(samples, s.id, b, key))).join(" / ");
    for (const m of s.metrics) {
      const cells = brokers.map((b) => {
        const v = m.format(med(samples, s.id, b, m.key));
        return failed(b) ? `${v} (failed run)` : v;
      });
      const row = [
        m.label,
        ...cells,
        ...(withPeers ? [fmtRatio(ratioToBest(samples, s.id, m, brokers), m)] : []),
        ...(vsFloor ? [fmtRatio(ratioOf(samples, s.id, m, "starling", "node-floor"), m)] : []),
        ...(floorVsMosquitto
          ? [fmtRatio(ratioOf(samples, s.id, m, "node-floor", "mosquitto"), m)]
          : []),
        triple("broker_cpu"),
        triple("gen_cpu"),
        triple("other_cpu"),
        brokers.map((b) => (ran(b) ? String(lostTotal(samples, s.id, b)) : "–")).join(" / "),
      ];
      lines.push(`| ${row.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}
