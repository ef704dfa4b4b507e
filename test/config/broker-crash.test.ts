/**
 * The durable store's crash test: `starling broker --data-dir` is killed with
 * SIGKILL at random moments, several times, while several MQTT.js publishers
 * send QoS 1 and QoS 2 messages to topics with persistent subscribers that
 * are partly offline; each time a new process is started on the same data
 * directory and port, and the clients reconnect by themselves.
 *
 * In the end every message acknowledged to its publisher (a PUBACK, or for
 * QoS 2 a PUBREC: the broker has then taken ownership, and it sends neither
 * before its store commit) reaches every subscriber: QoS 2 exactly once,
 * QoS 1 at least once (a duplicate only after a kill), in order per
 * publisher, topic and QoS, and nothing that was never published; every
 * session is resumed, and the acknowledgements, which wait for the commit,
 * keep the order of the PUBLISH packets they answer.
 *
 * MQTT.js keeps each client's unacknowledged QoS 1/2 PUBLISH and PUBREL
 * packets in memory and re-sends them with their packet ids on reconnect;
 * the subscribers that go offline come back as new client objects on the same
 * incoming store (a `Store({ clean: false })`), as a client with durable state
 * would, so that a PUBREL re-sent after a PUBREC still finds its message.
 *
 * The kill times come from a seeded PRNG; the seed is printed and
 * STARLING_CRASH_SEED replays it (the interleaving of packets still varies).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import mqtt, { type IClientOptions, type MqttClient, type Packet, Store } from "mqtt";
import { type BrokerProcess, freeLoopbackPort, spawnBroker } from "../helpers/broker-process.js";
import { prng } from "../helpers/prng.js";

/** SIGKILLs per run. */
const KILLS = 4;
/** Unacknowledged publishes per publisher at a time. */
const WINDOW = 20;
/** Each publisher alternates between these; the subscribers use `crash/#`. */
const TOPICS = ["crash/a", "crash/b/c"] as const;

type Version = 4 | 5;
type QoS = 1 | 2;

interface PublisherSpec {
  id: string;
  version: Version;
  /** QoS of the publisher's i-th message (topics alternate with i). */
  qos(i: number): QoS;
}

const PUBLISHERS: PublisherSpec[] = [
  { id: "crash-pub-q1", version: 4, qos: () => 1 },
  { id: "crash-pub-q2", version: 5, qos: () => 2 },
  // Two messages on each topic at QoS 1, then two at QoS 2, ...
  { id: "crash-pub-mix", version: 4, qos: (i) => (Math.floor(i / 2) % 2 === 0 ? 1 : 2) },
];

/** How each subscriber spends the run. */
const Presence = {
  /** Online throughout, reconnecting by itself after each kill. */
  Always: "always",
  /** Offline (DISCONNECT, session kept) from the second broker to the fourth. */
  Partly: "partly",
  /** Subscribes, disconnects at once, and comes back only at the end. */
  Late: "late",
} as const;
type Presence = (typeof Presence)[keyof typeof Presence];

const SUBSCRIBERS: { id: string; version: Version; presence: Presence }[] = [
  { id: "crash-sub-always", version: 5, presence: Presence.Always },
  { id: "crash-sub-partly", version: 4, presence: Presence.Partly },
  { id: "crash-sub-late", version: 5, presence: Presence.Late },
];

/** One message a publisher handed to MQTT.js; its payload is its key. */
interface Sent {
  key: string;
  pub: string;
  topic: string;
  seq: number;
  qos: QoS;
  /** Kills issued when it was published. */
  killsAtPublish: number;
  /** How the broker acknowledged it, if it did. */
  ack?: "puback" | "pubrec" | "pubcomp";
}

/** One message as a subscriber's application saw it. */
interface Receipt {
  key: string;
  topic: string;
  qos: number;
  /** The PUBLISH's DUP flag. */
  dup: boolean;
  /** The subscriber's connection it came on (1 = first). */
  conn: number;
  /** Kills issued when it came. */
  kills: number;
}

/** A QoS 1/2 packet a subscriber got or answered, for the failure messages. */
interface WireEvent {
  conn: number;
  kills: number;
  /** `<publish`, `<pubrel` (received), `>pubrec`, `>pubcomp` (sent). */
  what: string;
  id: number;
  dup?: boolean;
  key?: string;
}

/** A persistent client's CONNACKs. */
interface Connacks {
  id: string;
  /** Session Present of each CONNACK, in order. */
  sessionPresent: boolean[];
}

interface Outcome {
  seed: number;
  kills: number;
  generations: number;
  sent: Map<string, Sent>;
  /** Publish callbacks that reported an error (the message then does not count as acknowledged). */
  publishErrors: string[];
  receipts: Map<string, Receipt[]>;
  wire: Map<string, WireEvent[]>;
  publisherWire: Map<string, Publisher["wire"]>;
  connacks: Connacks[];
  /** Set when the wait for the last deliveries timed out. */
  deliveryTimeout?: string;
  /** Warnings and errors the broker processes logged. */
  brokerComplaints: string[];
  ms: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `cond()` holds; rejects after `ms` with `what` (and `detail()`). */
async function waitFor(
  cond: () => boolean,
  ms: number,
  what: string,
  detail: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${detail()}`);
    await sleep(20);
  }
}

/** Ends a client, forcing it if a graceful end takes more than `ms`. */
async function endClient(client: MqttClient, ms = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.endAsync(),
    new Promise<void>((r) => {
      timer = setTimeout(() => {
        client.end(true);
        r();
      }, ms);
    }),
  ]);
  clearTimeout(timer);
}

function persistentOptions(clientId: string, version: Version): IClientOptions {
  return {
    clientId,
    protocolVersion: version,
    clean: false,
    // 5.0: the session outlives the connection; 3.1.1: the broker keeps it (no expiry by default).
    ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    reconnectPeriod: 150,
    connectTimeout: 3000,
    keepalive: 30,
    // A resumed session keeps its subscriptions: MQTT.js must not hide a lost one.
    resubscribe: false,
  };
}

/** Records the Session Present flag of each CONNACK a client gets. */
function watchConnacks(client: MqttClient, record: Connacks): void {
  client.on("packetreceive", (p: Packet) => {
    if (p.cmd === "connack" && (p.returnCode ?? p.reasonCode ?? 0) === 0) {
      record.sessionPresent.push(p.sessionPresent);
    }
  });
}

class Publisher {
  readonly spec: PublisherSpec;
  readonly client: MqttClient;
  readonly connacks: Connacks;
  /** Acknowledgements since the counter was last reset. */
  acksSince = 0;
  /** PUBLISH packets sent and their PUBACK/PUBREC received, per connection (1 = first). */
  readonly wire: { conn: number; what: "publish" | "puback" | "pubrec"; key: string }[] = [];
  #i = 0;
  #seqs = new Map<string, number>();
  #outstanding = 0;
  #stopped = false;
  /** Packet id → key of the PUBLISH last sent with it (for PUBREC). */
  #byId = new Map<number, string>();
  readonly #sent: Map<string, Sent>;
  readonly #errors: string[];
  readonly #kills: () => number;

  constructor(
    spec: PublisherSpec,
    url: string,
    sent: Map<string, Sent>,
    errors: string[],
    kills: () => number,
  ) {
    this.spec = spec;
    this.#sent = sent;
    this.#errors = errors;
    this.#kills = kills;
    this.connacks = { id: spec.id, sessionPresent: [] };
    this.client = mqtt.connect(url, persistentOptions(spec.id, spec.version));
    this.client.on("error", () => {}); // refused connections while the broker is down
    watchConnacks(this.client, this.connacks);
    const conn = () => this.connacks.sessionPresent.length;
    this.client.on("packetsend", (p: Packet) => {
      if (p.cmd === "publish" && p.messageId !== undefined) {
        const key = String(p.payload);
        this.#byId.set(p.messageId, key);
        this.wire.push({ conn: conn(), what: "publish", key });
      }
    });
    this.client.on("packetreceive", (p: Packet) => {
      if ((p.cmd === "puback" || p.cmd === "pubrec") && p.messageId !== undefined) {
        const key = this.#byId.get(p.messageId);
        if (key !== undefined) this.wire.push({ conn: conn(), what: p.cmd, key });
      }
      // A PUBREC (not a failure code) is the broker taking ownership of a QoS 2 message.
      if (p.cmd === "pubrec" && p.messageId !== undefined && (p.reasonCode ?? 0) < 0x80) {
        const key = this.#byId.get(p.messageId);
        const m = key === undefined ? undefined : this.#sent.get(key);
        if (m !== undefined) this.#acked(m, "pubrec");
      }
    });
  }

  get outstanding(): number {
    return this.#outstanding;
  }

  /** Publishes until `stop()`, keeping at most WINDOW unacknowledged. */
  start(): void {
    this.#pump();
  }

  stop(): void {
    this.#stopped = true;
  }

  #acked(m: Sent, how: NonNullable<Sent["ack"]>): void {
    if (m.ack === undefined) this.acksSince++;
    if (m.ack === undefined || how === "pubcomp") m.ack = how;
  }

  #pump(): void {
    while (!this.#stopped && this.#outstanding < WINDOW) this.#publishOne();
  }

  #publishOne(): void {
    const i = this.#i++;
    const topic = TOPICS[i % TOPICS.length];
    const seq = (this.#seqs.get(topic) ?? 0) + 1;
    this.#seqs.set(topic, seq);
    const qos = this.spec.qos(i);
    const key = `${this.spec.id}|${topic}|${seq}|${qos}`;
    const m: Sent = { key, pub: this.spec.id, topic, seq, qos, killsAtPublish: this.#kills() };
    this.#sent.set(key, m);
    this.#outstanding++;
    this.client.publish(topic, key, { qos }, (err) => {
      this.#outstanding--;
      if (err) this.#errors.push(`${key}: ${err.message}`);
      else this.#acked(m, qos === 1 ? "puback" : "pubcomp");
      if (!this.#stopped) setImmediate(() => this.#pump());
    });
  }
}

class Subscriber {
  readonly id: string;
  readonly version: Version;
  readonly presence: Presence;
  readonly connacks: Connacks;
  readonly receipts: Receipt[] = [];
  readonly wire: WireEvent[] = [];
  /** Keys received at least once. */
  readonly got = new Set<string>();
  client: MqttClient | undefined;
  /** Kept across client objects, as a client with durable state keeps it. */
  readonly #incoming = new Store({ clean: false });
  readonly #url: string;
  readonly #kills: () => number;

  constructor(spec: (typeof SUBSCRIBERS)[number], url: string, kills: () => number) {
    this.id = spec.id;
    this.version = spec.version;
    this.presence = spec.presence;
    this.#url = url;
    this.#kills = kills;
    this.connacks = { id: spec.id, sessionPresent: [] };
  }

  get online(): boolean {
    return this.client?.connected === true;
  }

  /** A new client object (same client id, same incoming store) that reconnects by itself. */
  connect(): MqttClient {
    const client = mqtt.connect(this.#url, {
      ...persistentOptions(this.id, this.version),
      incomingStore: this.#incoming,
    });
    client.on("error", () => {});
    watchConnacks(client, this.connacks);
    const event = (what: string, p: Packet) => {
      if (p.cmd !== "publish" && p.cmd !== "pubrel" && p.cmd !== "pubrec" && p.cmd !== "pubcomp")
        return;
      if (p.messageId === undefined) return;
      const e: WireEvent = {
        conn: this.connacks.sessionPresent.length,
        kills: this.#kills(),
        what: `${what}${p.cmd}`,
        id: p.messageId,
      };
      if (p.cmd === "publish") {
        e.dup = p.dup;
        e.key = String(p.payload);
      }
      this.wire.push(e);
    };
    client.on("packetreceive", (p: Packet) => event("<", p));
    client.on("packetsend", (p: Packet) => event(">", p));
    client.on("message", (topic, payload, packet) => {
      const key = payload.toString();
      this.receipts.push({
        key,
        topic,
        qos: packet.qos,
        dup: packet.dup,
        conn: this.connacks.sessionPresent.length,
        kills: this.#kills(),
      });
      this.got.add(key);
    });
    this.client = client;
    return client;
  }

  async subscribe(): Promise<void> {
    const client = this.client ?? this.connect();
    const granted = await client.subscribeAsync("crash/#", { qos: 2 });
    assert.equal(granted[0]?.qos, 2, `${this.id}: QoS 2 granted`);
  }

  async goOffline(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await endClient(client);
  }
}

/** Starts a broker generation on `port`, retrying while the port is briefly in use. */
async function startOnPort(args: string[], port: number): Promise<BrokerProcess> {
  let last = "";
  for (let attempt = 0; attempt < 10; attempt++) {
    const r = await spawnBroker([...args, "-p", String(port)]);
    if ("port" in r) return r;
    last = r.output;
    if (!/EADDRINUSE|address already in use/i.test(r.output)) break;
    await sleep(200);
  }
  throw new Error(`broker did not start on port ${port}:\n${last}`);
}

/** Lines of broker output at warn level or above (pretty or JSON logs). */
function complaints(output: string): string[] {
  return output
    .split("\n")
    .filter((l) => /\b(WARN|ERROR|FATAL)\b|"level":(40|50|60)/.test(l))
    .map((l) => l.slice(0, 300));
}

/** What the run opened, closed by `after` even when the run is cut short by its timeout. */
interface Teardown {
  closed: boolean;
  tasks: (() => Promise<void>)[];
}

async function runScenario(seed: number, dir: string, teardown: Teardown) {
  const cleanup = teardown.tasks;
  /** Stops a run that goes on after `after` closed everything (the hook's timeout). */
  const alive = () => {
    if (teardown.closed) throw new Error("the run was cut short");
  };
  const started = Date.now();
  const rand = prng(seed);
  const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
  const data = join(dir, "data");
  const conf = join(dir, "starling.toml");
  // Room in every queue for everything published (the late subscriber's holds all of it).
  writeFileSync(
    conf,
    `[persistence]\nenabled = true\nlocation = ${JSON.stringify(data)}\n` +
      "[limits]\nmax_queued_messages = 1000000\nmax_queued_bytes = 1073741824\n",
  );
  const args = ["-c", conf, "--ws-port", "0", "--sys-interval", "0", "--log-level", "info"];
  const port = await freeLoopbackPort();
  const url = `mqtt://127.0.0.1:${port}`;

  let kills = 0;
  const killCount = () => kills;
  const brokerComplaints: string[] = [];
  let broker = await startOnPort(args, port);
  cleanup.push(() => broker.stop());
  alive();
  let generations = 1;

  const sent = new Map<string, Sent>();
  const publishErrors: string[] = [];
  const subscribers = SUBSCRIBERS.map((s) => new Subscriber(s, url, killCount));
  cleanup.push(async () => {
    for (const s of subscribers) s.client?.end(true);
  });
  for (const s of subscribers) await s.subscribe();
  for (const s of subscribers) if (s.presence === Presence.Late) await s.goOffline();

  const publishers = PUBLISHERS.map((p) => new Publisher(p, url, sent, publishErrors, killCount));
  cleanup.push(async () => {
    for (const p of publishers) p.client.end(true);
  });
  await waitFor(() => publishers.every((p) => p.client.connected), 10_000, "the publishers");
  for (const p of publishers) p.start();

  const partly = subscribers.find((s) => s.presence === Presence.Partly)!;
  const late = subscribers.find((s) => s.presence === Presence.Late)!;
  const progress = (what: string) =>
    waitFor(
      () => publishers.every((p) => p.acksSince >= 3),
      10_000,
      `acknowledgements from broker generation ${generations} (${what})`,
      () => `; acks so far: ${publishers.map((p) => `${p.spec.id}=${p.acksSince}`).join(", ")}`,
    );

  for (let g = 0; g <= KILLS; g++) {
    for (const p of publishers) p.acksSince = 0;
    if (g === 1) await partly.goOffline();
    alive();
    if (g === 3) partly.connect();
    // Kill only while every publisher is getting acknowledgements from this generation.
    await progress(g < KILLS ? `before kill ${g + 1}` : "after the last kill");
    await sleep(g < KILLS ? between(300, 1500) : between(300, 800));
    if (g === KILLS) break;
    kills++;
    await broker.kill("SIGKILL");
    brokerComplaints.push(...complaints(broker.output()));
    broker = await startOnPort(args, port);
    generations++;
    if (teardown.closed) await broker.stop();
    alive();
  }

  // Stop publishing; what is in flight is re-sent until acknowledged.
  for (const p of publishers) p.stop();
  await waitFor(
    () => publishers.every((p) => p.outstanding === 0),
    15_000,
    "the publishers' last acknowledgements",
    () => `; outstanding: ${publishers.map((p) => `${p.spec.id}=${p.outstanding}`).join(", ")}`,
  );
  alive();
  late.connect();
  const acked = [...sent.values()].filter((m) => m.ack !== undefined);
  let deliveryTimeout: string | undefined;
  try {
    await waitFor(
      () => subscribers.every((s) => acked.every((m) => s.got.has(m.key))),
      20_000,
      "every acknowledged message at every subscriber",
      () =>
        `; missing: ${subscribers
          .map((s) => `${s.id}=${acked.filter((m) => !s.got.has(m.key)).length}`)
          .join(", ")}`,
    );
    // A little longer, for duplicates that would come late.
    await sleep(300);
  } catch (err) {
    deliveryTimeout = (err as Error).message;
  }

  for (const p of publishers) await endClient(p.client);
  for (const s of subscribers) await s.goOffline();
  brokerComplaints.push(...complaints(broker.output()));
  await broker.stop();

  const outcome: Outcome = {
    seed,
    kills,
    generations,
    sent,
    publishErrors,
    receipts: new Map(subscribers.map((s) => [s.id, s.receipts])),
    wire: new Map(subscribers.map((s) => [s.id, s.wire])),
    publisherWire: new Map(publishers.map((p) => [p.spec.id, p.wire])),
    connacks: [...publishers.map((p) => p.connacks), ...subscribers.map((s) => s.connacks)],
    brokerComplaints,
    ms: Date.now() - started,
  };
  if (deliveryTimeout !== undefined) outcome.deliveryTimeout = deliveryTimeout;
  return outcome;
}

/**
 * The packets of the packet ids that carried `key` to a subscriber, from its
 * first receipt's connection to its last's: shows whether the broker re-sent
 * a PUBLISH after its PUBREL.
 */
function wireHistory(wire: WireEvent[], key: string, rs: Receipt[]): string {
  const ids = new Set(wire.filter((e) => e.key === key).map((e) => e.id));
  const from = rs[0].conn;
  const to = rs[rs.length - 1].conn;
  const lines: string[] = [];
  for (const e of wire) {
    if (!ids.has(e.id) || e.conn < from || e.conn > to) continue;
    lines.push(
      `  connection ${e.conn} (kills so far ${e.kills}): ${e.what} id ${e.id}` +
        (e.key === undefined ? "" : ` dup ${e.dup ? 1 : 0} ${e.key}`),
    );
  }
  return lines.slice(0, 24).join("\n");
}

const describeSent = (m: Sent) =>
  `${m.key} (published after ${m.killsAtPublish} kill(s), acknowledged by ${m.ack ?? "nothing"})`;

describe("starling broker --data-dir: SIGKILL several times while publishing QoS 1 and 2 to persistent subscribers", () => {
  const seed = Number(process.env.STARLING_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const dir = mkdtempSync(join(tmpdir(), "starling-crash-"));
  const teardown: Teardown = { closed: false, tasks: [] };
  let outcome: Outcome;

  before(
    async () => {
      outcome = await runScenario(seed, dir, teardown);
    },
    { timeout: 50_000 },
  );
  after(async () => {
    teardown.closed = true;
    for (const f of teardown.tasks.reverse()) await f().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it(`the broker was killed ${KILLS} times while publishing (seed ${seed}; replay with STARLING_CRASH_SEED=${seed})`, (t) => {
    const { sent, receipts } = outcome;
    t.diagnostic(
      `seed ${seed}: ${outcome.kills} kills, ${outcome.generations} broker processes, ${outcome.ms} ms`,
    );
    for (const p of PUBLISHERS) {
      const mine = [...sent.values()].filter((m) => m.pub === p.id);
      const acked = mine.filter((m) => m.ack !== undefined);
      const byPubrecOnly = acked.filter((m) => m.ack === "pubrec").length;
      t.diagnostic(
        `${p.id} (${p.version === 5 ? "5.0" : "3.1.1"}): ${mine.length} published, ${acked.length} acknowledged` +
          ` (QoS 1 ${acked.filter((m) => m.qos === 1).length}, QoS 2 ${acked.filter((m) => m.qos === 2).length};` +
          ` ${byPubrecOnly} by PUBREC without PUBCOMP)`,
      );
    }
    for (const s of SUBSCRIBERS) {
      const r = receipts.get(s.id) ?? [];
      const distinct = new Set(r.map((x) => x.key)).size;
      const q1dups =
        r.filter((x) => x.qos === 1).length -
        new Set(r.filter((x) => x.qos === 1).map((x) => x.key)).size;
      t.diagnostic(
        `${s.id} (${s.presence}): ${r.length} received, ${distinct} distinct, ${q1dups} QoS 1 duplicates`,
      );
    }
    if (outcome.publishErrors.length > 0)
      t.diagnostic(
        `publish errors: ${outcome.publishErrors.length}, e.g. ${outcome.publishErrors.slice(0, 3).join("; ")}`,
      );
    if (outcome.brokerComplaints.length > 0)
      t.diagnostic(
        `broker warnings/errors: ${outcome.brokerComplaints.length}, e.g.\n${outcome.brokerComplaints.slice(0, 5).join("\n")}`,
      );
    assert.equal(outcome.kills, KILLS);
  });

  it("[MQTT-3.1.2-4] [MQTT-3.2.2-2] every persistent session is resumed after each SIGKILL: Session Present 1 on every reconnect", () => {
    const lost = outcome.connacks
      .filter((c) => c.sessionPresent.slice(1).includes(false))
      .map((c) => `${c.id}: ${c.sessionPresent.map((p) => (p ? 1 : 0)).join("")}`);
    assert.deepEqual(lost, [], "Session Present per CONNACK");
    for (const c of outcome.connacks)
      assert.ok(c.sessionPresent.length >= 2, `${c.id} reconnected`);
  });

  it("[MQTT-3.1.2-5] [MQTT-4.4.0-1] every message acknowledged to its publisher (PUBACK, PUBREC) reaches every subscriber, online, partly offline or offline", () => {
    const acked = [...outcome.sent.values()].filter((m) => m.ack !== undefined);
    assert.ok(acked.length > 0, "something was acknowledged");
    const problems: string[] = [];
    for (const s of SUBSCRIBERS) {
      const got = new Set((outcome.receipts.get(s.id) ?? []).map((r) => r.key));
      const missing = acked.filter((m) => !got.has(m.key));
      if (missing.length > 0)
        problems.push(
          `${s.id} (${s.presence}) is missing ${missing.length} of ${acked.length}: ${missing
            .slice(0, 8)
            .map(describeSent)
            .join(", ")}`,
        );
    }
    assert.deepEqual(problems, [], outcome.deliveryTimeout ?? "");
  });

  it("[MQTT-4.3.3-10] QoS 2: each message reaches each subscriber exactly once, across every kill", () => {
    const problems: string[] = [];
    let evidence = "";
    for (const s of SUBSCRIBERS) {
      const count = new Map<string, Receipt[]>();
      for (const r of outcome.receipts.get(s.id) ?? []) {
        if (outcome.sent.get(r.key)?.qos !== 2) continue;
        count.set(r.key, [...(count.get(r.key) ?? []), r]);
      }
      for (const [key, rs] of count) {
        if (rs.length < 2) continue;
        problems.push(
          `${s.id}: ${describeSent(outcome.sent.get(key)!)} received ${rs.length} times` +
            ` (connections ${rs.map((r) => r.conn).join(", ")}; kills so far ${rs.map((r) => r.kills).join(", ")})`,
        );
        if (evidence === "") evidence = wireHistory(outcome.wire.get(s.id) ?? [], key, rs);
      }
    }
    assert.deepEqual(
      problems.slice(0, 10),
      [],
      `${problems.length} duplicates; the first one's packet id at the subscriber:\n${evidence}`,
    );
  });

  it("[MQTT-4.4.0-1] QoS 1: at least once, and a duplicate only after a kill since the message was published", () => {
    const problems: string[] = [];
    for (const s of SUBSCRIBERS) {
      const seen = new Set<string>();
      for (const r of outcome.receipts.get(s.id) ?? []) {
        const m = outcome.sent.get(r.key);
        if (m?.qos !== 1) continue;
        if (seen.has(r.key) && r.kills <= m.killsAtPublish)
          problems.push(
            `${s.id}: ${describeSent(m)} again on connection ${r.conn} with no kill since`,
          );
        seen.add(r.key);
      }
    }
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} duplicates without a kill`);
  });

  it("[MQTT-4.6.0-5] [MQTT-4.6.0-6] order kept per publisher, topic and QoS: a new message never comes before an older one", () => {
    const problems: string[] = [];
    let evidence = "";
    for (const s of SUBSCRIBERS) {
      const last = new Map<string, number>();
      const seen = new Set<string>();
      const receipts = outcome.receipts.get(s.id) ?? [];
      receipts.forEach((r, i) => {
        const m = outcome.sent.get(r.key);
        if (m === undefined || seen.has(r.key)) return; // a duplicate may repeat an older one
        seen.add(r.key);
        const stream = `${m.pub} ${m.topic} QoS ${m.qos}`;
        const prev = last.get(stream) ?? 0;
        last.set(stream, Math.max(prev, m.seq));
        if (m.seq > prev) return;
        problems.push(`${s.id}: ${stream}: ${m.seq} after ${prev}`);
        if (evidence !== "") return;
        // What this subscriber got of that stream up to here: sequence (connection, kills, DUP).
        const mine = receipts
          .slice(0, i + 1)
          .map((x) => ({ x, m: outcome.sent.get(x.key) }))
          .filter(({ m: o }) => o !== undefined && `${o.pub} ${o.topic} QoS ${o.qos}` === stream)
          .slice(-16);
        evidence = `${s.id}, ${stream}, last receipts: ${mine
          .map(({ x, m: o }) => `${o!.seq} (c${x.conn} k${x.kills}${x.dup ? " dup" : ""})`)
          .join(", ")}`;
      });
    }
    const per = SUBSCRIBERS.map(
      (x) => `${x.id} ${problems.filter((p) => p.startsWith(`${x.id}:`)).length}`,
    );
    assert.deepEqual(
      problems.slice(0, 10),
      [],
      `${problems.length} out of order (${per.join(", ")}); ${evidence}`,
    );
  });

  // The broker holds itself to these client rules (Client.ackAfterCommit): its acknowledgements wait
  // for the store's commit and must keep their order through it.
  it("[MQTT-4.6.0-2] [MQTT-4.6.0-3] PUBACK and PUBREC come in the order of the PUBLISH packets they answer, on each connection", () => {
    const problems: string[] = [];
    for (const [pub, wire] of outcome.publisherWire) {
      const sentAt = new Map<string, number>(); // `${conn} ${key}` → position of its first PUBLISH on that connection
      const last = new Map<number, { pos: number; key: string }>(); // conn → latest acknowledged
      wire.forEach((e, i) => {
        const id = `${e.conn} ${e.key}`;
        if (e.what === "publish") {
          if (!sentAt.has(id)) sentAt.set(id, i);
          return;
        }
        const pos = sentAt.get(id);
        if (pos === undefined) return; // answers a PUBLISH of an earlier connection
        const prev = last.get(e.conn);
        if (prev !== undefined && pos < prev.pos)
          problems.push(
            `${pub}, connection ${e.conn}: ${e.what} for ${e.key} after the one for ${prev.key}`,
          );
        if (prev === undefined || pos > prev.pos) last.set(e.conn, { pos, key: e.key });
      });
    }
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} acknowledgements out of order`);
  });

  it("every message received was published, on its own topic, at its publish QoS (subscribed at 2)", () => {
    const problems: string[] = [];
    for (const s of SUBSCRIBERS) {
      for (const r of outcome.receipts.get(s.id) ?? []) {
        const m = outcome.sent.get(r.key);
        if (m === undefined)
          problems.push(`${s.id}: never published: ${JSON.stringify(r.key.slice(0, 80))}`);
        else if (m.topic !== r.topic || m.qos !== r.qos)
          problems.push(`${s.id}: ${m.key} came on ${r.topic} at QoS ${r.qos}`);
      }
    }
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} wrong messages`);
  });
});
