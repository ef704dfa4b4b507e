/**
 * Micro-benchmark of SubscriptionTrie.match: 1k and 100k filters; a topic that
 * matches (hit), one that does not (miss), and a set where ~30% of filters use
 * `+` or `#` (wildcard); cache off and on; a hot set of topics that fits the
 * cache and a wide one that does not.
 *
 * Run: `npx tsx bench/codec/trie.ts`. A combined runner calls `runTrieBench()`.
 */
import { cpus } from "node:os";
import { pathToFileURL } from "node:url";
import { SubscriptionTrie } from "../../src/protocol/trie.js";

/** One measured configuration. */
export interface TrieBenchRow {
  /** Number of (filter, value) entries in the trie. */
  readonly filters: number;
  /** `hit`: exact-filter set, subscribed topics; `miss`: same set, unsubscribed topics; `wildcard`: ~30% wildcard filters. */
  readonly scenario: "hit" | "miss" | "wildcard";
  /** Distinct topics cycled through (the cache keeps the last 1,024 used, up to 2,048). */
  readonly topics: number;
  readonly cache: "off" | "on";
  readonly matchesPerSec: number;
  readonly nsPerMatch: number;
  /** Average number of entries returned per match. */
  readonly resultsPerMatch: number;
}

/** Options of {@link runTrieBench}. */
export interface TrieBenchOptions {
  /** Filter counts to build. Default `[1_000, 100_000]`. */
  readonly sizes?: readonly number[];
  /** Distinct-topic pool sizes. Default `[1_000, 20_000]`. */
  readonly pools?: readonly number[];
  /** Measuring time per row, after warm-up. Default 250 ms. */
  readonly durationMs?: number;
}

const DEVICES_PER_SITE = 100;
const WILDCARD_SHARE = 0.3;

/** A small seeded PRNG (mulberry32), so every run builds the same sets. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (rand: () => number, n: number): number => Math.floor(rand() * n);

/** `site/{s}/device/{d}/temp` for `n` devices: every filter literal. */
function exactFilters(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(`site/${Math.floor(i / DEVICES_PER_SITE)}/device/${i % DEVICES_PER_SITE}/temp`);
  }
  return out;
}

/** Like {@link exactFilters}, but ~30% of filters use `+` or `#` in realistic places. */
function wildcardFilters(n: number, rand: () => number): string[] {
  const sites = Math.max(1, Math.floor(n / DEVICES_PER_SITE));
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = pick(rand, sites);
    const d = pick(rand, DEVICES_PER_SITE);
    if (rand() >= WILDCARD_SHARE) {
      out.push(`site/${s}/device/${d}/temp`);
      continue;
    }
    switch (pick(rand, 5)) {
      case 0:
        out.push(`site/${s}/device/+/temp`); // every device of a site
        break;
      case 1:
        out.push(`site/${s}/#`); // everything of a site
        break;
      case 2:
        out.push(`site/+/device/${d}/temp`); // one device number on every site
        break;
      case 3:
        out.push(`site/${s}/device/${d}/+`); // every metric of a device
        break;
      default:
        out.push(`+/${s}/device/+/temp`); // a root-level wildcard
        break;
    }
  }
  return out;
}

/**
 * Up to `count` distinct topics from the site/device space (fewer when the
 * space is smaller), in random order; `metric` is the last level. Flat strings,
 * as a decoder produces, not the rope a template literal builds.
 */
function topicPool(filters: number, count: number, metric: string, rand: () => number): string[] {
  const sites = Math.max(1, Math.floor(filters / DEVICES_PER_SITE));
  const space = sites * DEVICES_PER_SITE;
  const seen = new Set<number>();
  const out: string[] = [];
  while (out.length < Math.min(count, space)) {
    const n = pick(rand, space);
    if (seen.has(n)) continue;
    seen.add(n);
    const topic = `site/${Math.floor(n / DEVICES_PER_SITE)}/device/${n % DEVICES_PER_SITE}/${metric}`;
    out.push(new TextDecoder().decode(new TextEncoder().encode(topic)));
  }
  return out;
}

function build(filters: readonly string[], cacheSize: number): SubscriptionTrie<number> {
  const trie = new SubscriptionTrie<number>({ cacheSize });
  for (let i = 0; i < filters.length; i++) trie.add(filters[i], i);
  return trie;
}

const SAMPLES = 5;

/**
 * Matches `topics` round-robin for about `durationMs`, in {@link SAMPLES}
 * samples; returns the median ns per match (robust to a noisy neighbour) and
 * the results per match.
 */
function measure(
  trie: SubscriptionTrie<number>,
  topics: readonly string[],
  durationMs: number,
): { nsPerMatch: number; resultsPerMatch: number } {
  const n = topics.length;
  let results = 0;
  // Warm-up: two passes (fills the cache, lets the JIT settle), at least 50k matches.
  for (let i = 0; i < Math.max(2 * n, 50_000); i++) results += trie.match(topics[i % n]).length;
  results = 0;
  const batch = 1000;
  const budget = (BigInt(durationMs) * 1_000_000n) / BigInt(SAMPLES);
  const samples: number[] = [];
  let total = 0;
  let idx = 0;
  for (let s = 0; s < SAMPLES; s++) {
    let ops = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    do {
      for (let k = 0; k < batch; k++) {
        results += trie.match(topics[idx]).length;
        idx = idx + 1 === n ? 0 : idx + 1;
      }
      ops += batch;
      elapsed = process.hrtime.bigint() - start;
    } while (elapsed < budget);
    samples.push(Number(elapsed) / ops);
    total += ops;
  }
  samples.sort((a, b) => a - b);
  return { nsPerMatch: samples[SAMPLES >> 1], resultsPerMatch: results / total };
}

/** Builds the filter sets and measures every configuration. Takes about 12 s with the defaults. */
export async function runTrieBench(options: TrieBenchOptions = {}): Promise<TrieBenchRow[]> {
  const sizes = options.sizes ?? [1_000, 100_000];
  const pools = options.pools ?? [1_000, 20_000];
  const durationMs = options.durationMs ?? 250;
  const rows: TrieBenchRow[] = [];
  for (const size of sizes) {
    const rand = random(size);
    const exact = exactFilters(size);
    const wild = wildcardFilters(size, rand);
    const sets = { hit: exact, miss: exact, wildcard: wild } as const;
    for (const scenario of ["hit", "miss", "wildcard"] as const) {
      const metric = scenario === "miss" ? "humidity" : "temp";
      const space = Math.max(1, Math.floor(size / DEVICES_PER_SITE)) * DEVICES_PER_SITE;
      // A pool larger than the topic space would repeat a smaller pool's rows.
      const distinct = [...new Set(pools.map((pool) => Math.min(pool, space)))];
      for (const pool of distinct) {
        const topics = topicPool(size, pool, metric, rand);
        for (const cache of ["off", "on"] as const) {
          const trie = build(sets[scenario], cache === "on" ? 1024 : 0);
          const { nsPerMatch, resultsPerMatch } = measure(trie, topics, durationMs);
          rows.push({
            filters: size,
            scenario,
            topics: new Set(topics).size,
            cache,
            matchesPerSec: 1e9 / nsPerMatch,
            nsPerMatch,
            resultsPerMatch,
          });
          // Let timers and I/O run between rows when called from a larger runner.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    }
  }
  return rows;
}

/** Renders rows as a markdown table. */
export function formatTrieTable(rows: readonly TrieBenchRow[]): string {
  const lines = [
    "| filters | scenario | distinct topics | cache | matches/s | ns/match | results/match |",
    "|--------:|----------|----------------:|-------|----------:|---------:|--------------:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.filters.toLocaleString("en-US")} | ${r.scenario} | ${r.topics.toLocaleString("en-US")} | ${r.cache} | ${Math.round(r.matchesPerSec).toLocaleString("en-US")} | ${r.nsPerMatch.toFixed(0)} | ${r.resultsPerMatch.toFixed(2)} |`,
    );
  }
  return lines.join("\n");
}

/** Time to add every filter of a set, for context next to the match numbers. */
function buildTimes(): string[] {
  const out: string[] = [];
  for (const size of [1_000, 100_000]) {
    const filters = wildcardFilters(size, random(size));
    const start = process.hrtime.bigint();
    build(filters, 1024);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    out.push(`- build ${size.toLocaleString("en-US")} filters (wildcard set): ${ms.toFixed(1)} ms`);
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const rows = await runTrieBench();
  console.log(`## SubscriptionTrie.match — ${new Date().toISOString().slice(0, 10)}`);
  console.log("");
  console.log(
    `Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} × ${cpus().length}; command: \`npx tsx bench/codec/trie.ts\``,
  );
  console.log("");
  console.log(formatTrieTable(rows));
  console.log("");
  for (const line of buildTimes()) console.log(line);
  console.log(`- total bench time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
