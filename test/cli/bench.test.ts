/**
 * `starling bench pub|sub|conn` as a user runs it (`node --import tsx
 * src/cli/main.ts bench …`), against Starling's broker and the real
 * Mosquitto: what pub sends, sub receives (all of it at QoS 0 on loopback,
 * at least the acknowledged at QoS 1), `%i` topics, 200 connections,
 * refused connections, the JSON summary. Every run is bounded by `--count`
 * or a `--duration` of a second or two; nothing asserts on speed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PasswordAuthenticator } from "../../src/broker/auth/password-auth.js";
import { PasswordFile } from "../../src/broker/auth/password-file.js";
import { Broker } from "../../src/broker/index.js";
import { Histogram } from "../../src/cli/bench-histogram.js";
import {
  HEADER_SIZE,
  hasHeader,
  makePayload,
  StreamTracker,
  sentAt,
  stamp,
} from "../../src/cli/bench-payload.js";
import { connect, type Message } from "../../src/client/index.js";
import { startBroker, tcpPort } from "../helpers/broker.js";
import { makePki, type Pki } from "../helpers/certs.js";
import {
  freePort,
  type Mosquitto,
  requireMosquitto,
  startMosquitto,
} from "../helpers/mosquitto.js";
import { type Proc, Procs, type Result, waitFor } from "./run-cli.js";

interface Latency {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The fields of `--json` the tests read. */
interface Summary {
  command: string;
  url: string;
  clients: {
    requested: number;
    connected: number;
    failed: number;
    notAttempted: number;
    ready: number;
    lost: number;
  };
  connect: { seconds: number; rate: number; latencyUs: Latency | null };
  seconds: number;
  sent: number;
  acked: number;
  unacked: number;
  received: number;
  withHeader: number;
  duplicates: number;
  lost: number;
  streams: number;
  receivedPerClient: { min: number; max: number };
  sentPerClient: { min: number; max: number };
  rate: Record<string, number>;
  latencyUs: Latency | null;
  errors: { total: number; connect: number; messages: Array<{ message: string; count: number }> };
  interrupted: boolean;
  exitCode: number;
}

function summary(r: Result): Summary {
  const out = r.stdout.toString("utf8");
  const lines = out.trim().split("\n");
  assert.equal(lines.length, 1, `--json prints one line:\n${out}\n--- stderr ---\n${r.stderr}`);
  return JSON.parse(lines[0]) as Summary;
}

function assertOrdered(l: Latency | null, what: string): asserts l is Latency {
  assert.ok(l !== null, `${what}: latency present`);
  assert.ok(
    l.min <= l.p50 && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max,
    `${what}: min ≤ p50 ≤ p95 ≤ p99 ≤ max: ${JSON.stringify(l)}`,
  );
  assert.ok(l.count > 0);
}

const ok = (r: Result) => {
  assert.equal(r.code, 0, `exit status\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  return r;
};

describe("bench helpers", () => {
  it("the histogram's percentiles are within 1/128 of the true values, and ordered", () => {
    const h = new Histogram();
    const values: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const v = Math.round(Math.exp(Math.random() * 14)); // 1 µs … 1.2 s
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1];
      const got = h.quantile(q);
      assert.ok(Math.abs(got - exact) <= exact / 128 + 1, `q${q}: ${got} vs ${exact}`);
    }
    const s = h.summary() ?? null;
    assertOrdered(s, "histogram");
    assert.equal(s.min, values[0]);
    assert.equal(s.max, values.at(-1));
    assert.equal(new Histogram().summary(), undefined);
  });

  it("the payload header carries time, run, publisher and sequence; the tracker counts gaps and duplicates", () => {
    const buf = makePayload(64, 0xdeadbeef, 7);
    assert.ok(hasHeader(buf));
    assert.ok(!hasHeader(makePayload(HEADER_SIZE - 1, 1, 1)));
    const t = 1_764_000_000_123_456;
    stamp(buf, 41, t);
    assert.equal(sentAt(buf), t);
    const tracker = new StreamTracker();
    const send = (seq: number) => {
      stamp(buf, seq, t);
      return tracker.note(buf);
    };
    for (const seq of [0, 1, 2, 5, 6]) assert.ok(send(seq));
    assert.equal(tracker.lost, 2);
    assert.ok(!send(5), "a duplicate");
    assert.ok(send(3), "a late arrival fills a gap");
    assert.equal(tracker.lost, 1);
    assert.equal(tracker.duplicates, 1);
    assert.equal(tracker.streams, 1);
    const other = makePayload(64, 0xdeadbeef, 8);
    stamp(other, 0, t);
    tracker.note(other);
    assert.equal(tracker.streams, 2);
  });
});

// Each CLI process costs about a second of CPU (tsx compiles on start): a few at a time.
describe("starling bench against Starling's broker", { concurrency: 3 }, () => {
  let broker: Broker;
  let secured: Broker;
  let port: string;
  let wsPort: number;
  let securedPort: string;
  const procs = new Procs();

  before(async () => {
    broker = await startBroker();
    port = String(tcpPort(broker));
    wsPort = broker.listeners.find((l) => l.type === "ws")?.port as number;
    const passwords = PasswordFile.parse("", "bench-passwd");
    await passwords.set("alice", "s3cret", 1000);
    secured = await startBroker({
      authenticator: new PasswordAuthenticator({
        passwordFile: passwords,
        allowAnonymous: false,
        throttle: { baseDelayMs: 1, maxDelayMs: 10 },
      }),
    });
    securedPort = String(tcpPort(secured));
  });
  after(async () => {
    await procs.killAll();
    await broker?.close();
    await secured?.close();
  });

  const bench = (args: string[], p = port) =>
    procs.cli(["bench", ...args, "-h", "127.0.0.1", "-p", p, "--json"]);

  /** Starts `bench sub` and resolves once all its clients subscribed (its status line). */
  async function subscribers(args: string[], p = port): Promise<Proc> {
    const sub = bench(["sub", ...args], p);
    await waitFor(
      () => /clients ready/.test(sub.stderr()) || sub.child.exitCode !== null,
      () => `bench sub to subscribe:\n${sub.stderr()}`,
    );
    assert.equal(sub.child.exitCode, null, `bench sub exited early:\n${sub.stderr()}`);
    return sub;
  }

  it("QoS 0: every message bench pub sends reaches every bench sub client, with latency", async () => {
    const sub = await subscribers([
      "-c",
      "2",
      "-t",
      "b0/all",
      "--count",
      "400",
      "--duration",
      "20",
    ]);
    const pub = summary(
      ok(await bench(["pub", "-c", "2", "-t", "b0/all", "--count", "200", "-s", "100"]).done),
    );
    assert.equal(pub.command, "pub");
    assert.equal(pub.sent, 400);
    assert.deepEqual(pub.sentPerClient, { min: 200, max: 200 });
    assert.equal(pub.acked, 0);
    assert.equal(pub.latencyUs, null, "no acknowledgements at QoS 0");
    assert.equal(pub.errors.total, 0);
    assert.equal(pub.exitCode, 0);
    const r = summary(ok(await sub.done));
    assert.equal(r.received, 2 * 400, "each subscriber receives every message");
    assert.equal(r.withHeader, 800);
    assert.deepEqual(r.receivedPerClient, { min: 400, max: 400 });
    assert.equal(r.lost, 0);
    assert.equal(r.duplicates, 0);
    assert.equal(r.streams, 4, "2 subscribers × 2 publishers");
    assertOrdered(r.latencyUs, "end-to-end");
    assert.equal(r.latencyUs.count, 800);
    assert.ok(r.rate.received > 0);
  });

  it("QoS 1: acknowledged = sent, sub receives at least the acknowledged, publish→ack latency", async () => {
    const sub = await subscribers([
      "-c",
      "1",
      "-t",
      "b1/+",
      "-q",
      "1",
      "--count",
      "300",
      "--duration",
      "20",
    ]);
    const pub = summary(
      ok(
        await bench([
          "pub",
          "-c",
          "3",
          "-t",
          "b1/%i",
          "-q",
          "1",
          "--count",
          "100",
          "--inflight",
          "5",
        ]).done,
      ),
    );
    assert.equal(pub.sent, 300);
    assert.equal(pub.acked, 300);
    assert.equal(pub.unacked, 0);
    assertOrdered(pub.latencyUs, "publish→ack");
    assert.equal(pub.latencyUs.count, 300);
    assert.ok(pub.rate.acked > 0);
    const r = summary(ok(await sub.done));
    assert.ok(r.received >= pub.acked, `received ${r.received} ≥ acked ${pub.acked}`);
    assert.equal(r.lost, 0);
    assert.equal(r.duplicates, 0);
    assertOrdered(r.latencyUs, "end-to-end");
  });

  it("%i: each publisher publishes on its own topic, each subscriber receives only its own", async () => {
    // A library client sees which publisher wrote each topic.
    const watcher = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false });
    const seen: Message[] = [];
    watcher.on("message", (m) => seen.push(m));
    await watcher.subscribe("own/#");
    try {
      const sub = await subscribers([
        "-c",
        "2",
        "-t",
        "own/%i",
        "--count",
        "50",
        "--duration",
        "20",
      ]);
      const pub = summary(
        ok(await bench(["pub", "-c", "3", "-t", "own/%i", "--count", "50"]).done),
      );
      assert.equal(pub.sent, 150);
      const r = summary(ok(await sub.done));
      assert.equal(r.received, 100, "subscribers 1 and 2 hear publishers 1 and 2, nobody hears 3");
      assert.deepEqual(r.receivedPerClient, { min: 50, max: 50 });
      assert.equal(r.streams, 2, "each subscriber heard one publisher");
      await waitFor(
        () => seen.length >= 150,
        () => `150 messages at the watcher, got ${seen.length}`,
      );
      for (const m of seen) {
        const publisher = new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(16);
        assert.equal(m.topic, `own/${publisher}`);
      }
    } finally {
      await watcher.end();
    }
  });

  it("conn -c 200 opens all 200 connections, holds them and reports them", async () => {
    const r = summary(ok(await bench(["conn", "-c", "200", "--duration", "1"]).done));
    assert.equal(r.command, "conn");
    assert.deepEqual(r.clients, {
      requested: 200,
      connected: 200,
      failed: 0,
      notAttempted: 0,
      ready: 200,
      lost: 0,
    });
    assertOrdered(r.connect.latencyUs, "connect");
    assert.equal(r.connect.latencyUs.count, 200);
    assert.ok(r.connect.rate > 0);
    assert.ok(r.seconds >= 1);
    assert.equal(r.exitCode, 0);
  });

  it("over WebSocket (-L ws://…), MQTT 5, with the human summary and progress lines", async () => {
    const p = procs.cli([
      "bench",
      "pub",
      "-L",
      `ws://127.0.0.1:${wsPort}`,
      "-V",
      "5",
      "-c",
      "2",
      "-t",
      "ws/%c",
      "-q",
      "1",
      "--rate",
      "200",
      "--duration",
      "1.5",
    ]);
    const r = ok(await p.done);
    const out = r.stdout.toString("utf8");
    assert.match(
      out,
      /^starling bench pub: ws:\/\/127\.0\.0\.1:\d+\/mqtt \(MQTT 5\.0\), 2 clients/,
    );
    assert.match(out, /\n {2}sent {7}\d+ \(\d+ msg\/s\), QoS 1/);
    assert.match(out, /\n {2}ack {8}p50 [\d.]+ms {2}p95/);
    assert.match(out, /\n {2}errors {5}0\n$/);
    assert.match(r.stderr, /^bench pub {2}1\.\ds {2}clients 2\/2 .*sent [\d,]+\/s {2}acked/m);
  });

  it("a refused connection (nothing listening) exits 1 and says why", async () => {
    const free = String(await freePort());
    const r = await bench(["conn", "-c", "3", "--duration", "1"], free).done;
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `Error: connect: connection refused by 127\\.0\\.0\\.1:${free} — is a broker running\\? \\(×3\\)`,
      ),
    );
    const s = summary(r);
    assert.equal(s.clients.connected, 0);
    assert.equal(s.clients.failed, 3);
    assert.equal(s.errors.connect, 3);
    assert.equal(s.exitCode, 1);
  });

  it("bad credentials are refused (exit 1, CONNACK named); good ones connect", async () => {
    const bad = await bench(
      ["conn", "-c", "2", "-u", "alice", "-P", "wrong", "--duration", "1"],
      securedPort,
    ).done;
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /Error: connect: connection refused by 127\.0\.0\.1:\d+: bad user name or password \(CONNACK 0x04\) — check -u\/-P and the broker's access rules \(×2\)/,
    );
    assert.equal(summary(bad).clients.failed, 2);
    const good = summary(
      ok(
        await bench(
          ["conn", "-c", "2", "-u", "alice", "-P", "s3cret", "--duration", "0.5"],
          securedPort,
        ).done,
      ),
    );
    assert.equal(good.clients.connected, 2);
  });

  it("Ctrl-C (SIGINT) ends the run early with the summary", async () => {
    const sub = await subscribers(["-c", "2", "-t", "int/#", "--duration", "60"]);
    sub.kill("SIGINT");
    const r = summary(ok(await sub.done));
    assert.equal(r.interrupted, true);
    assert.equal(r.clients.ready, 2);
    assert.ok(r.seconds < 30, `stopped early (${r.seconds} s)`);
  });

  it("flag mistakes are refused before connecting", async () => {
    const r = await procs.cli(["bench", "pub", "-p", port, "-I", "10", "--rate", "5", "-t", "x"])
      .done;
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /error: give -I\/--interval \(per client\) or --rate \(in total\), not both/,
    );
    const noTopic = await procs.cli(["bench", "sub", "-p", port]).done;
    assert.equal(noTopic.code, 1);
    assert.match(noTopic.stderr, /error: give a topic filter to subscribe to \(-t\)/);
  });
});

describe("starling bench over TLS", () => {
  let pki: Pki;
  let broker: Broker;
  const procs = new Procs();

  before(async () => {
    pki = makePki();
    broker = await Broker.start({
      listeners: [
        {
          type: "tls",
          host: "127.0.0.1",
          port: 0,
          tls: {
            cert: pki.serverCert,
            key: pki.serverKey,
            requireCertificate: false,
            useIdentityAsUsername: false,
            minVersion: "TLSv1.2",
          },
        },
      ],
      sysInterval: 0,
    });
  });
  after(async () => {
    await procs.killAll();
    await broker?.close();
    pki?.remove();
  });

  it("pub with --cafile: every QoS 0 message arrives, written in batches over TLS", async () => {
    const url = broker.listeners[0].url;
    const watcher = await connect(url, { ca: pki.read(pki.ca), reconnect: false });
    const seen: Message[] = [];
    watcher.on("message", (m) => seen.push(m));
    await watcher.subscribe("tls/#");
    try {
      const port = String(broker.listeners[0].port);
      const r = ok(
        await procs.cli([
          "bench",
          "pub",
          "-h",
          "127.0.0.1",
          "-p",
          port,
          "--cafile",
          pki.ca,
          "-c",
          "2",
          "-t",
          "tls/%i",
          "--count",
          "500",
          "-s",
          "32",
          "--json",
        ]).done,
      );
      assert.equal(summary(r).sent, 1000);
      assert.match(summary(r).url, /^mqtts:\/\/127\.0\.0\.1:/);
      await waitFor(
        () => seen.length >= 1000,
        () => `1000 messages, got ${seen.length}`,
      );
      assert.ok(seen.every((m) => hasHeader(m.payload) && m.payload.length === 32));
    } finally {
      await watcher.end();
    }
  });
});

const skipMosquitto = requireMosquitto();

describe("starling bench against Mosquitto", { skip: skipMosquitto }, () => {
  let mosquitto: Mosquitto;
  const procs = new Procs();

  before(async () => {
    mosquitto = await startMosquitto();
  });
  after(async () => {
    await procs.killAll();
    await mosquitto?.stop();
  });

  it("pub (MQTT 3.1.1, QoS 1) → sub (MQTT 5): all acknowledged, all received once", async () => {
    const p = String(mosquitto.port);
    const sub = procs.cli([
      "bench",
      "sub",
      "-h",
      "127.0.0.1",
      "-p",
      p,
      "-V",
      "5",
      "-c",
      "2",
      "-t",
      "m/%i",
      "-q",
      "1",
      "--count",
      "150",
      "--duration",
      "20",
      "--json",
    ]);
    await waitFor(
      () => /clients ready/.test(sub.stderr()) || sub.child.exitCode !== null,
      () => `bench sub to subscribe:\n${sub.stderr()}`,
    );
    const pubRun = ok(
      await procs.cli([
        "bench",
        "pub",
        "-h",
        "127.0.0.1",
        "-p",
        p,
        "-c",
        "2",
        "-t",
        "m/%i",
        "-q",
        "1",
        "--count",
        "150",
        "--json",
      ]).done,
    );
    const pub = summary(pubRun);
    assert.equal(pub.sent, 300);
    assert.equal(pub.acked, 300);
    assertOrdered(pub.latencyUs, "publish→ack");
    const r = summary(ok(await sub.done));
    assert.equal(r.received, 300);
    assert.deepEqual(r.receivedPerClient, { min: 150, max: 150 });
    assert.equal(r.lost, 0);
    assert.equal(r.duplicates, 0);
    assertOrdered(r.latencyUs, "end-to-end");
  });
});
