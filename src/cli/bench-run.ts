/**
 * One run of `starling bench pub|sub|conn`: opens the clients with bounded
 * concurrency (and an optional rate), runs the command's workload until
 * `--duration` passes, the workload finishes (`--count`) or a signal comes,
 * prints a progress line every second on stderr and the summary (text or
 * `--json`) on stdout, and sets the exit status: 1 when any error was
 * counted (a connection not established or lost, a refused subscription or
 * publish, a publish left unacknowledged), else 0.
 */
import { setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { type Client, connect, type Properties } from "../client/index.js";
import { Latency, type LatencySummary } from "./bench-histogram.js";
import { type Meter, type MeteredTransport, meteredTransport } from "./bench-transport.js";
import { type Connection, failure } from "./client-options.js";

export type BenchTool = "pub" | "sub" | "conn";

/** Everything a run needs, parsed and checked from the flags. */
export interface BenchSettings {
  tool: BenchTool;
  conn: Connection;
  clients: number;
  /** Client k (from 1) has index startNumber + k. */
  startNumber: number;
  idPrefix: string;
  /** Connection attempts in progress at once. */
  concurrency: number;
  /** New connections per second, over all clients (undefined: as fast as `concurrency` allows). */
  connRate: number | undefined;
  connectTimeoutMs: number;
  durationMs: number;
  /** Messages per client (pub: to send, sub: to receive) after which it is done. */
  count: number | undefined;
  json: boolean;
  quiet: boolean;
}

/** A connected client of the run. */
export interface BenchClient {
  /** Its index, the `%i` of topics (from startNumber + 1). */
  readonly index: number;
  readonly id: string;
  readonly client: Client;
  readonly transport: MeteredTransport;
  /** The broker's CONNACK properties (MQTT 5: limits such as Maximum Packet Size). */
  readonly limits: Properties;
}

/** What pub, sub and conn do with the clients. */
export interface Workload {
  /** Readies a freshly connected client (sub: subscribes); false when that failed (noted as an error). */
  prepare(c: BenchClient): Promise<boolean>;
  /** The load phase starts: every client `prepare` accepted is connected (or was lost since). */
  start(): void;
  /** No new work; resolves once work in flight settled (within a bounded grace period). */
  stop(): Promise<void>;
  /** Progress fields for the interval of `seconds` since the last line. */
  progress(seconds: number): string;
  /** The command's own summary fields, for `--json`. */
  report(seconds: number): Record<string, unknown>;
  /** The command's own summary lines, for people. */
  lines(seconds: number): string[];
}

export type ErrorKind = "connect" | "lost" | "subscribe" | "publish" | "unacked";

const KIND_WORDS: Record<ErrorKind, string> = {
  connect: "connect",
  lost: "connection lost",
  subscribe: "subscribe",
  publish: "publish",
  unacked: "unacknowledged",
};

/** Errors by kind, and the distinct messages (the first 20) with their counts. */
export class ErrorLog {
  readonly counts: Record<ErrorKind, number> = {
    connect: 0,
    lost: 0,
    subscribe: 0,
    publish: 0,
    unacked: 0,
  };
  total = 0;
  readonly #messages = new Map<string, number>();
  readonly #conn: Connection;

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Counts `n` errors of `kind`, described by `err`. */
  note(kind: ErrorKind, err: unknown, n = 1): void {
    this.counts[kind] += n;
    this.total += n;
    const message = `${KIND_WORDS[kind]}: ${failure(err, this.#conn).message}`;
    const seen = this.#messages.get(message);
    if (seen !== undefined) this.#messages.set(message, seen + n);
    else if (this.#messages.size < 20) this.#messages.set(message, n);
  }

  messages(): Array<{ message: string; count: number }> {
    return [...this.#messages].map(([message, count]) => ({ message, count }));
  }
}

// ---- formatting ---------------------------------------------------------------

const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 1234567 → "1,234,567". */
export const count = (n: number): string => integerFormat.format(n);

/** Microseconds as milliseconds for people: "0.123ms", "12.3ms", "-" when unknown. */
export function ms(us: number | undefined): string {
  if (us === undefined || Number.isNaN(us)) return "-";
  const v = us / 1000;
  return `${v < 10 ? v.toFixed(3) : v < 1000 ? v.toFixed(1) : v.toFixed(0)}ms`;
}

/** "p50 0.123ms p95 … p99 … max …" of a summary. */
export function latencyLine(s: LatencySummary | undefined): string {
  if (s === undefined) return "none";
  return `p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  max ${ms(s.max)}  (mean ${ms(s.mean)}, ${count(s.count)} samples)`;
}

/** Per second, rounded to 0.1. */
export const perSecond = (n: number, seconds: number): number =>
  seconds > 0 ? Math.round((n / seconds) * 10) / 10 : 0;

const VERSION_NAMES = { 3: "3.1", 4: "3.1.1", 5: "5.0" } as const;

// ---- the run ------------------------------------------------------------------

/** Drives one bench command from the first connection to the exit status. */
export class BenchRun {
  readonly settings: BenchSettings;
  readonly errors: ErrorLog;
  readonly meter: Meter = { bytesOut: 0, bytesIn: 0 };
  readonly connectLatency = new Latency();
  connected = 0;
  failed = 0;
  lost = 0;
  #attempted = 0;
  #givenUp = false;
  readonly #all: BenchClient[] = [];
  readonly #ready: BenchClient[] = [];
  readonly #abort = new AbortController();
  /**
   * One controller per connection attempt in progress, aborted by Ctrl-C.
   * Not one shared signal: a client keeps its listener on it for good, and
   * thousands of listeners on one signal make each new one cost O(n).
   */
  readonly #attempts = new Set<AbortController>();
  #interrupted = false;
  #closing = false;
  #loading = false;
  #finish: () => void = () => {};
  #t0 = 0;
  #lastConnectAt = 0;
  #loadStart = 0;
  #loadEnd = 0;
  #lastTick = 0;
  #connectedAtTick = 0;
  readonly #onSignal = () => {
    if (this.#interrupted) process.exit(130); // a second Ctrl-C: at once
    this.#interrupted = true;
    this.#abort.abort();
    for (const attempt of this.#attempts) attempt.abort();
    this.#finish();
  };

  constructor(settings: BenchSettings) {
    this.settings = settings;
    this.errors = new ErrorLog(settings.conn);
    // The connection-rate waits of up to `concurrency` workers listen to it.
    setMaxListeners(0, this.#abort.signal);
  }

  /** Whether the run is ending (a workload stops starting new work). */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /**
   * Waits until `pending()` is 0, `graceMs` passed or the run was interrupted
   * (Ctrl-C: no waiting). Resolves with what is still pending.
   */
  async settle(pending: () => number, graceMs: number): Promise<number> {
    const deadline = performance.now() + graceMs;
    while (pending() > 0 && !this.#interrupted && performance.now() < deadline)
      await delay(5, undefined, { signal: this.#abort.signal }).catch(() => {});
    return pending();
  }

  /** The workload is done before `--duration` (every client reached `--count`). */
  finish(): void {
    this.#finish();
  }

  /** Runs `workload` to the end; prints the summary and sets `process.exitCode`. */
  async execute(workload: Workload): Promise<void> {
    const s = this.settings;
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
    this.#t0 = performance.now();
    this.#lastTick = this.#t0;
    const ticker = setInterval(() => this.#tick(workload), 1000);
    await this.#openAll(workload);
    if (!this.#interrupted && this.#ready.length > 0) {
      this.#status(
        `${this.#ready.length} of ${s.clients} clients ready in ${this.#since(this.#t0).toFixed(2)} s; ${s.tool === "conn" ? "holding them" : s.tool === "pub" ? "publishing" : "receiving"} for up to ${s.durationMs / 1000} s`,
      );
      const finished = new Promise<void>((resolve) => {
        this.#finish = resolve;
      });
      const timer = new AbortController();
      this.#loading = true;
      this.#loadStart = performance.now();
      workload.start();
      await Promise.race([
        finished,
        delay(s.durationMs, undefined, { signal: timer.signal }).catch(() => {}),
      ]);
      timer.abort();
      await workload.stop();
      this.#loadEnd = performance.now();
      this.#loading = false;
    }
    clearInterval(ticker);
    this.#closing = true;
    await Promise.all(this.#all.map((c) => c.client.end({ force: true }).catch(() => {})));
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
    const exitCode = this.errors.total > 0 ? 1 : 0;
    this.#summarise(workload, exitCode);
    process.exitCode = exitCode;
    // Sockets still closing must not keep a finished run alive.
    setTimeout(() => process.exit(exitCode), 3000).unref();
  }

  #since(t: number): number {
    return (performance.now() - t) / 1000;
  }

  #status(line: string): void {
    if (!this.settings.quiet) process.stderr.write(`bench ${this.settings.tool}: ${line}\n`);
  }

  /**
   * Opens the clients, at most `concurrency` attempts at once and no faster
   * than `connRate`. Gives up when the first `concurrency` attempts all
   * failed: the broker is unreachable or refuses everyone, no use trying
   * thousands more.
   */
  async #openAll(workload: Workload): Promise<void> {
    const s = this.settings;
    let next = 0;
    const worker = async () => {
      while (next < s.clients && !this.#interrupted && !this.#givenUp) {
        const k = next++;
        if (s.connRate !== undefined) {
          const wait = this.#t0 + (k * 1000) / s.connRate - performance.now();
          if (wait > 0)
            await delay(wait, undefined, { signal: this.#abort.signal }).catch(() => {});
          if (this.#interrupted) return;
        }
        await this.#open(k, workload);
      }
    };
    const workers = Math.min(s.clients, s.concurrency);
    await Promise.all(Array.from({ length: workers }, worker));
  }

  async #open(k: number, workload: Workload): Promise<void> {
    const s = this.settings;
    const index = s.startNumber + k + 1;
    const id = `${s.idPrefix}${index}`;
    let transport: MeteredTransport | undefined;
    this.#attempted++;
    const t = performance.now();
    let client: Client;
    const attempt = new AbortController();
    this.#attempts.add(attempt);
    try {
      client = await connect(s.conn.url, {
        ...s.conn.options,
        clientId: id,
        reconnect: false,
        connectTimeout: s.connectTimeoutMs,
        transport: meteredTransport(this.meter, (m) => {
          transport = m;
        }),
        signal: attempt.signal,
      });
    } catch (err) {
      if (this.#interrupted) return; // aborted by Ctrl-C: not the broker's fault
      this.failed++;
      this.errors.note("connect", err);
      if (this.connected === 0 && this.failed >= Math.min(s.concurrency, s.clients))
        this.#givenUp = true;
      return;
    } finally {
      this.#attempts.delete(attempt);
    }
    this.#lastConnectAt = performance.now();
    this.connectLatency.record((this.#lastConnectAt - t) * 1000);
    this.connected++;
    // The first status event is the current one: the connect, with its CONNACK.
    const status = client.status()[Symbol.asyncIterator]();
    const first = await status.next();
    void status.return?.();
    const limits =
      (!first.done && first.value.type === "connect" && first.value.connack.properties) || {};
    const c: BenchClient = { index, id, client, transport: transport as MeteredTransport, limits };
    this.#all.push(c);
    void client.closed().then((err) => {
      // undefined: closed by end() (ours, e.g. after a refused subscription), not lost.
      if (this.#closing || err === undefined) return;
      this.lost++;
      this.errors.note("lost", err ?? new Error("the connection closed"));
    });
    if (await workload.prepare(c)) this.#ready.push(c);
  }

  #tick(workload: Workload): void {
    const now = performance.now();
    const seconds = (now - this.#lastTick) / 1000;
    this.#lastTick = now;
    const s = this.settings;
    const parts = [
      `bench ${s.tool}`,
      `${((now - this.#t0) / 1000).toFixed(1)}s`,
      `clients ${this.#ready.length}/${s.clients}`,
    ];
    const connects = this.connected - this.#connectedAtTick;
    this.#connectedAtTick = this.connected;
    if (connects > 0 || s.tool === "conn") {
      const recent = this.connectLatency.recent;
      parts.push(
        `connects ${count(connects / seconds)}/s  connect p50 ${ms(recent.quantile(0.5))} p99 ${ms(recent.quantile(0.99))}`,
      );
    }
    this.connectLatency.roll();
    if (this.failed > 0) parts.push(`failed ${count(this.failed)}`);
    if (this.#loading) parts.push(workload.progress(seconds));
    parts.push(`errors ${count(this.errors.total)}`);
    if (!s.quiet) process.stderr.write(`${parts.filter((x) => x !== "").join("  ")}\n`);
  }

  #summarise(workload: Workload, exitCode: number): void {
    const s = this.settings;
    const loadSeconds = this.#loadStart > 0 ? (this.#loadEnd - this.#loadStart) / 1000 : 0;
    const connectSeconds = this.connected > 0 ? (this.#lastConnectAt - this.#t0) / 1000 : 0;
    const connectLatency = this.connectLatency.summary();
    const notAttempted = s.clients - this.#attempted;
    for (const { message, count: n } of this.errors.messages())
      process.stderr.write(`Error: ${message}${n > 1 ? ` (×${count(n)})` : ""}\n`);
    if (this.#givenUp && notAttempted > 0)
      process.stderr.write(
        `Error: the first ${count(this.failed)} connection attempts all failed; the other ${count(notAttempted)} clients were not tried\n`,
      );
    const report = workload.report(loadSeconds);
    if (s.json) {
      const out = {
        command: s.tool,
        url: s.conn.url,
        protocolVersion: VERSION_NAMES[s.conn.version],
        clients: {
          requested: s.clients,
          connected: this.connected,
          failed: this.failed,
          notAttempted,
          ready: this.#ready.length,
          lost: this.lost,
        },
        connect: {
          seconds: round3(connectSeconds),
          rate: perSecond(this.connected, connectSeconds),
          latencyUs: connectLatency ?? null,
        },
        seconds: round3(loadSeconds),
        ...report,
        bytes: { sent: this.meter.bytesOut, received: this.meter.bytesIn },
        errors: {
          total: this.errors.total,
          ...this.errors.counts,
          messages: this.errors.messages(),
        },
        interrupted: this.#interrupted,
        exitCode,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
      return;
    }
    const lines = [
      `starling bench ${s.tool}: ${s.conn.url} (MQTT ${VERSION_NAMES[s.conn.version]}), ${count(s.clients)} clients${this.#interrupted ? " (interrupted)" : ""}`,
      `  connected  ${count(this.connected)} of ${count(s.clients)} in ${connectSeconds.toFixed(3)} s (${count(perSecond(this.connected, connectSeconds))}/s)${this.failed > 0 ? `, ${count(this.failed)} failed` : ""}${notAttempted > 0 ? `, ${count(notAttempted)} not tried` : ""}${this.lost > 0 ? `, ${count(this.lost)} lost later` : ""}`,
      `  connect    ${latencyLine(connectLatency)}`,
      `  ran        ${loadSeconds.toFixed(3)} s`,
      ...workload.lines(loadSeconds),
      `  bytes      ${count(this.meter.bytesOut)} sent, ${count(this.meter.bytesIn)} received`,
      `  errors     ${this.errors.total === 0 ? "0" : `${count(this.errors.total)} (${errorBreakdown(this.errors)})`}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}

function errorBreakdown(log: ErrorLog): string {
  return (Object.keys(log.counts) as ErrorKind[])
    .filter((k) => log.counts[k] > 0)
    .map((k) => `${KIND_WORDS[k]} ${count(log.counts[k])}`)
    .join(", ");
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;
