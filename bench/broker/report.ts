/**
 * The broker benchmark's markdown: one row per metric, the brokers' medians
 * over rounds side by side, Starling / best peer, and next to every result
 * the CPU of the broker, of the generator and of everything else on the
 * machine (the noise), and the messages lost.
 */
import { type BrokerName, LABEL } from "./brokers.js";
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

/** Starling's median over the best peer's (the highest, or the lowest for lower-is-better). */
export function ratioToBest(
  samples: Sample[],
  scenario: string,
  metric: Metric,
  brokers: readonly BrokerName[],
): number {
  const peers = brokers
    .filter((b) => b !== "starling")
    .map((b) => med(samples, scenario, b, metric.key))
    .filter((x) => Number.isFinite(x));
  if (metric.noRatio || !brokers.includes("starling") || peers.length === 0) return Number.NaN;
  const best = metric.higher ? Math.max(...peers) : Math.min(...peers);
  return best > 0 ? med(samples, scenario, "starling", metric.key) / best : Number.NaN;
}

const pct = (cores: number) => (Number.isFinite(cores) ? (cores * 100).toFixed(0) : "–");

export function table(
  samples: Sample[],
  scenarios: readonly Scenario[],
  brokers: readonly BrokerName[],
): string {
  const names = brokers.map((b) => LABEL[b]);
  const short = brokers.map((b) => LABEL[b][0]).join(" / ");
  const head = [
    "scenario",
    ...names,
    ...(brokers.includes("starling") && brokers.length > 1 ? ["Starling / best peer"] : []),
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
    const triple = (key: string) => brokers.map((b) => pct(med(samples, s.id, b, key))).join(" / ");
    for (const m of s.metrics) {
      const cells = brokers.map((b) => {
        const v = m.format(med(samples, s.id, b, m.key));
        return failed(b) ? `${v} (failed run)` : v;
      });
      const r = ratioToBest(samples, s.id, m, brokers);
      const row = [
        m.label,
        ...cells,
        ...(brokers.includes("starling") && brokers.length > 1
          ? [Number.isFinite(r) ? `${r.toFixed(2)}×${m.higher ? "" : " (lower is better)"}` : "–"]
          : []),
        triple("broker_cpu"),
        triple("gen_cpu"),
        triple("other_cpu"),
        brokers.map((b) => String(lostTotal(samples, s.id, b))).join(" / "),
      ];
      lines.push(`| ${row.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}
