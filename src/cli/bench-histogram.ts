/**
 * A latency histogram for `starling bench`: log-linear buckets (HDR-style),
 * so a run of any length keeps a fixed 13 KB per histogram and every
 * percentile is within 1/128 (0.8 %) of the true value — no samples are
 * kept or sorted.
 *
 * Values are whole microseconds from 0 to 2^31 − 1 (about 36 minutes; larger
 * ones are counted in the top bucket). Values below 128 have a bucket each;
 * above, each power of two is split into 64 buckets.
 */

/** Sub-buckets per power of two above {@link LINEAR}. */
const HALF = 64;
/** Values below this have a bucket each. */
const LINEAR = 2 * HALF;
const MAX_VALUE = 0x7fff_ffff;
/** 128 linear buckets, then 64 for each exponent from 7 to 30. */
const BUCKETS = LINEAR + (31 - 7) * HALF;

/** Percentiles and extremes in microseconds, as `--json` prints them. */
export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

function bucketOf(v: number): number {
  if (v < LINEAR) return v;
  const msb = 31 - Math.clz32(v); // 7 … 30
  const shift = msb - 6;
  return LINEAR + (shift - 1) * HALF + ((v >>> shift) - HALF);
}

/** The smallest value of bucket `b`, and its width. */
function bucketRange(b: number): [number, number] {
  if (b < LINEAR) return [b, 1];
  const shift = Math.floor((b - LINEAR) / HALF) + 1;
  const top = ((b - LINEAR) % HALF) + HALF;
  return [top * 2 ** shift, 2 ** shift];
}

export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = 0;

  get count(): number {
    return this.#count;
  }

  /** Records one value in microseconds (negative values count as 0, fractions are rounded). */
  record(us: number): void {
    let v = us > 0 ? Math.round(us) : 0;
    if (v > MAX_VALUE) v = MAX_VALUE;
    this.#counts[bucketOf(v)]++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** Adds another histogram's counts to this one. */
  add(other: Histogram): void {
    if (other.#count === 0) return;
    for (let i = 0; i < BUCKETS; i++) this.#counts[i] += other.#counts[i];
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Number.POSITIVE_INFINITY;
    this.#max = 0;
  }

  /**
   * The value at quantile `q` (0 < q ≤ 1): the middle of the bucket holding
   * the ⌈q·count⌉-th smallest value, kept within [min, max]. Monotonic in
   * `q`, so p50 ≤ p95 ≤ p99 always holds. NaN when empty.
   */
  quantile(q: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.#counts[b];
      if (seen >= rank) {
        const [low, width] = bucketRange(b);
        const mid = width === 1 ? low : low + (width - 1) / 2;
        return Math.min(this.#max, Math.max(this.#min, Math.round(mid)));
      }
    }
    return this.#max;
  }

  /** count, min, mean, p50, p95, p99 and max in whole microseconds; undefined when empty. */
  summary(): LatencySummary | undefined {
    if (this.#count === 0) return undefined;
    return {
      count: this.#count,
      min: this.#min,
      mean: Math.round(this.#sum / this.#count),
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
      max: this.#max,
    };
  }
}

/**
 * A latency measure read two ways: `recent` (since the last progress line)
 * and the whole run. Samples go into `recent` only; {@link roll} folds it
 * into the total once a second, so each sample costs one bucket increment.
 */
export class Latency {
  readonly #total = new Histogram();
  readonly recent = new Histogram();

  record(us: number): void {
    this.recent.record(us);
  }

  /** Folds the recent samples into the total and starts a new interval. */
  roll(): void {
    this.#total.add(this.recent);
    this.recent.reset();
  }

  /** The whole run's summary (rolls first). */
  summary(): LatencySummary | undefined {
    this.roll();
    return this.#total.summary();
  }
}
