/**
 * Publish throughput of the Starling client against MQTT.js, both talking to
 * the same Starling broker (in another process, see broker.ts) over TCP on
 * loopback.
 *
 * One measurement: connect a fresh client (not timed), publish N messages of
 * 64 B to one topic, and wait until all have completed. Two shapes:
 *
 * - burst: all N publish calls are made at once (with QoS 1, all N in
 *   flight together), then every promise is awaited;
 * - window W: at most W publishes are pending at a time; each completion
 *   starts the next — the steady state of an application that awaits.
 *
 * For QoS 1, completion is the PUBACK. For QoS 0 a final QoS 1 publish is
 * sent behind the N and awaited: the broker handles a connection's packets in
 * order, so its PUBACK proves the broker has read all N, not just that they
 * left the client. The rate is N / wall time; the CPU time is the
 * client process's (`process.cpuUsage`, user + system) over the same span —
 * the broker's is not in it.
 */
import { performance } from "node:perf_hooks";
import mqtt from "mqtt";
import { connect } from "../../src/client/index.js";

export type Lib = "starling" | "mqtt.js";
export type Version = 4 | 5;
export type QoS = 0 | 1;

export interface Case {
  version: Version;
  qos: QoS;
  /** Messages per measurement. */
  count: number;
  /** Publishes pending at a time; undefined: all at once (burst). */
  window?: number;
}

export interface Measurement {
  /** Messages per second (wall clock, first publish to last acknowledgement). */
  rate: number;
  /** Client-process CPU time per message in microseconds. */
  cpuUsPerMsg: number;
}

export interface CaseResult extends Case {
  rounds: number;
  ours: Measurement[];
  theirs: Measurement[];
}

const TOPIC = "bench/client/publish";
/** 64 bytes; one Buffer handed to both libraries. */
const PAYLOAD = Buffer.alloc(64, 0x61);

/** A connected client reduced to what one measurement needs. */
interface Publisher {
  /** Publishes one message to the bench topic; resolves when its QoS flow completes. */
  publish(qos: QoS): Promise<unknown>;
  end(): Promise<void>;
}

let seq = 0;
const clientId = (lib: string) => `bench-${lib}-${process.pid}-${++seq}`;

async function starlingPublisher(url: string, version: Version): Promise<Publisher> {
  const client = await connect(url, {
    protocolVersion: version,
    clientId: clientId("starling"),
    reconnect: false,
  });
  return {
    publish: (qos) => client.publish(TOPIC, PAYLOAD, { qos }),
    end: () => client.end({ force: true }),
  };
}

async function mqttjsPublisher(url: string, version: Version): Promise<Publisher> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: version,
    clientId: clientId("mqttjs"),
    reconnectPeriod: 0,
  });
  // MQTT.js waits for 'drain' with one listener per write while the socket is
  // backed up, which a burst of thousands trips Node's leak warning on.
  client.stream.setMaxListeners(0);
  return {
    publish: (qos) => client.publishAsync(TOPIC, PAYLOAD, { qos }),
    end: () => client.endAsync(true),
  };
}

const PUBLISHERS: Record<Lib, (url: string, version: Version) => Promise<Publisher>> = {
  starling: starlingPublisher,
  "mqtt.js": mqttjsPublisher,
};

/** Burst: starts all `count` publishes at once, then awaits them all. */
async function burst(p: Publisher, count: number, qos: QoS): Promise<void> {
  const pending: Promise<unknown>[] = new Array(count);
  for (let i = 0; i < count; i++) pending[i] = p.publish(qos);
  await Promise.all(pending);
}

/** Window: keeps at most `window` publishes pending; resolves when all `count` have completed. */
function windowed(p: Publisher, count: number, qos: QoS, window: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let started = 0;
    let done = 0;
    const next = (): void => {
      if (done === count) resolve();
      else if (started < count) {
        started++;
        p.publish(qos).then(() => {
          done++;
          next();
        }, reject);
      }
    };
    for (let i = 0; i < Math.min(window, count); i++) next();
  });
}

/** Rejects after `ms`: a stuck client must end the run, not hang it. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** One measurement of `lib` on `c`, with a connection of its own. */
export async function measure(lib: Lib, url: string, c: Case): Promise<Measurement> {
  const what = `${lib} ${caseName(c)}`;
  const publisher = await bounded(PUBLISHERS[lib](url, c.version), 10_000, `${what}: connect`);
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const run = async () => {
      if (c.window === undefined) await burst(publisher, c.count, c.qos);
      else await windowed(publisher, c.count, c.qos, c.window);
      if (c.qos === 0) await publisher.publish(1); // the broker has read all N
    };
    await bounded(run(), 60_000, what);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { rate: (c.count * 1000) / ms, cpuUsPerMsg: (cpu.user + cpu.system) / c.count };
  } finally {
    await bounded(publisher.end(), 10_000, `${what}: end`).catch(() => undefined);
  }
}

/**
 * Runs both libraries on each case: one warm-up each, then `rounds` rounds
 * alternating which goes first (A B, B A, …) so drift on the shared machine
 * and any after-effects of the previous run (GC) fall on both alike.
 */
export async function runThroughput(
  url: string,
  cases: Case[],
  rounds: number,
  progress: (line: string) => void = () => {},
): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of cases) {
    await measure("starling", url, c);
    await measure("mqtt.js", url, c);
    const r: CaseResult = { ...c, rounds, ours: [], theirs: [] };
    for (let i = 0; i < rounds; i++) {
      const order: Lib[] = i % 2 === 0 ? ["starling", "mqtt.js"] : ["mqtt.js", "starling"];
      for (const lib of order) {
        const m = await measure(lib, url, c);
        (lib === "starling" ? r.ours : r.theirs).push(m);
      }
    }
    results.push(r);
    const last = summarize(r);
    progress(`  ${caseName(c)}: ratio ${last.rateRatio.toFixed(2)}×`);
  }
  return results;
}

export function caseName(c: Case): string {
  const shape = c.window === undefined ? "burst" : `window ${c.window}`;
  return `MQTT ${c.version === 5 ? "5.0" : "3.1.1"} QoS ${c.qos} ${shape} × ${c.count}`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Summary {
  oursRate: number;
  theirsRate: number;
  rateRatio: number;
  oursCpu: number;
  theirsCpu: number;
  cpuRatio: number;
  oursRange: [number, number];
  theirsRange: [number, number];
}

export function summarize(r: CaseResult): Summary {
  const rate = (ms: Measurement[]) => median(ms.map((m) => m.rate));
  const cpu = (ms: Measurement[]) => median(ms.map((m) => m.cpuUsPerMsg));
  const range = (ms: Measurement[]): [number, number] => {
    const rates = ms.map((m) => m.rate);
    return [Math.min(...rates), Math.max(...rates)];
  };
  const oursRate = rate(r.ours);
  const theirsRate = rate(r.theirs);
  const oursCpu = cpu(r.ours);
  const theirsCpu = cpu(r.theirs);
  return {
    oursRate,
    theirsRate,
    rateRatio: oursRate / theirsRate,
    oursCpu,
    theirsCpu,
    cpuRatio: oursCpu / theirsCpu,
    oursRange: range(r.ours),
    theirsRange: range(r.theirs),
  };
}
