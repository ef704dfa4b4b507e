/**
 * Side-by-side micro-benchmark helpers: calibrate each variant to a fixed
 * time slice, run the variants interleaved (A, B, A, B, …) so machine noise
 * hits both alike, and report medians.
 */
import { performance } from "node:perf_hooks";

export interface Variant {
  name: string;
  /** Runs the operation `n` times; returns a value so the work is not optimised away. */
  run: (n: number) => unknown;
}

export interface Sample {
  name: string;
  /** Median operations per second over the rounds. */
  opsPerSec: number;
}

let sink: unknown;

function timeOnce(v: Variant, n: number): number {
  const t0 = performance.now();
  sink = v.run(n);
  return performance.now() - t0;
}

/** Finds a count that takes about `sliceMs`. */
function calibrate(v: Variant, sliceMs: number): number {
  let n = 1;
  for (;;) {
    const ms = timeOnce(v, n);
    if (ms >= sliceMs / 4 || n > 1e8)
      return Math.max(1, Math.round((n * sliceMs) / Math.max(ms, 0.001)));
    n *= 4;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs the variants interleaved for `rounds` rounds of `sliceMs` each; returns median ops/s. */
export function compare(variants: Variant[], rounds = 7, sliceMs = 120): Sample[] {
  const counts = variants.map((v) => {
    calibrate(v, sliceMs); // warm up
    return calibrate(v, sliceMs);
  });
  const rates: number[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    variants.forEach((v, i) => {
      const ms = timeOnce(v, counts[i]);
      rates[i].push((counts[i] * 1000) / ms);
    });
  }
  if (sink === Symbol.for("never")) console.log(sink);
  return variants.map((v, i) => ({ name: v.name, opsPerSec: median(rates[i]) }));
}

export function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}
