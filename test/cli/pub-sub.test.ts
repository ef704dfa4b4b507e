/**
 * `starling pub`, `starling sub` and `starling rr` as a user runs them
 * (`node --import tsx src/cli/main.ts …`, real pipes included), against
 * Starling's broker and against the real Mosquitto broker, where the output
 * of `starling sub -F …` is compared byte for byte with `mosquitto_sub -F …`
 * for the same messages, and exit statuses with mosquitto_sub's.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Broker } from "../../src/broker/index.js";
import { compileFormat, render, toJson } from "../../src/cli/format.js";
import { type Client, connect, type Message } from "../../src/client/index.js";
import { startBroker, tcpPort } from "../helpers/broker.js";
import {
  freePort,
  type Mosquitto,
  requireMosquitto,
  startMosquitto,
} from "../helpers/mosquitto.js";
import { requirePrograms } from "../helpers/programs.js";
import { Procs, type Result, subscribed, waitFor } from "./run-cli.js";

/** Collects what a library client receives on `filter`. */
async function collector(url: string, filter: string, protocolVersion: 4 | 5 = 5) {
  const client = await connect(url, { protocolVersion, reconnect: false });
  const got: Message[] = [];
  await client.subscribe(filter, { qos: 2 });
  client.on("message", (m) => got.push(m));
  return { client, got };
}

/** An MQTT 5 service answering requests on `filter` with "re: " and the request, echoing the correlation data. */
async function responder(url: string, filter: string): Promise<Client> {
  const client = await connect(url, { protocolVersion: 5, reconnect: false });
  client.on("message", (m) => {
    const to = m.properties?.responseTopic;
    if (to === undefined) return;
    const properties =
      m.properties?.correlationData === undefined
        ? {}
        : { correlationData: m.properties.correlationData };
    void client.publish(to, `re: ${m.text()}`, { properties });
  });
  await client.subscribe(filter);
  return client;
}

const text = (r: Result) => r.stdout.toString("utf8");

// Each CLI process costs about a second of CPU (tsx compiles on start): a few at a time.
describe("starling pub / sub / rr against Starling's broker", { concurrency: 3 }, () => {
  let broker: Broker;
  let auth: Broker;
  let port: string;
  let url: string;
  const procs = new Procs();

  before(async () => {
    broker = await startBroker();
    port = String(tcpPort(broker));
    url = `mqtt://127.0.0.1:${port}`;
    // A broker that knows one user, and refuses subscriptions to secret/# and publishes to ro/#.
    auth = await startBroker({
      authenticator: {
        authenticate: (info) =>
          info.username === "alice" && new TextDecoder().decode(info.password) === "s3cret"
            ? { ok: true }
            : { ok: false, reasonCode: 0x87 },
      },
      authorizer: {
        canSubscribe: (_c, filter) => !filter.startsWith("secret/"),
        canPublish: (_c, topic) => !topic.startsWith("ro/"),
      },
    });
  });
  after(async () => {
    await procs.killAll();
    await broker?.close();
    await auth?.close();
  });
  const host = () => ["-h", "127.0.0.1", "-p", port];

  it("sub -v prints 'topic payload' (and 'topic (null)'), pub -m publishes, -C exits 0", async () => {
    const sub = await subscribed(procs, [...host(), "-t", "basic/#", "-v", "-C", "2"]);
    const pub = await procs.cli(["pub", ...host(), "-t", "basic/a", "-m", "hello world", "-q", "1"])
      .done;
    assert.equal(pub.code, 0, pub.stderr);
    const c = await connect(url, { reconnect: false });
    await c.publish("basic/b", "");
    await c.end();
    const r = await sub.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(text(r), "basic/a hello world\nbasic/b (null)\n");
  });

  it("`seq 10 | starling pub -t a -l` publishes one message per line", async () => {
    const { client, got } = await collector(url, "lines/a");
    const r = await procs.sh(`seq 10 | $STARLING pub -h 127.0.0.1 -p ${port} -t lines/a -l -q 1`)
      .done;
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      () => got.length === 10,
      () => `10 messages, got ${got.length}`,
    );
    assert.deepEqual(
      got.map((m) => m.text()),
      ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
    );
    await client.end();
  });

  it("`starling sub -t 'pipe/#' -v | grep x` works as a pipeline", async () => {
    const p = procs.sh(`$STARLING sub -d -h 127.0.0.1 -p ${port} -t 'pipe/#' -v -C 3 | grep x`);
    await waitFor(
      () => p.stderr().includes("subscribed to pipe/#"),
      () => `the subscription:\n${p.stderr()}`,
    );
    const c = await connect(url, { reconnect: false });
    for (const [t, m] of [
      ["pipe/a", "x1"],
      ["pipe/b", "y"],
      ["pipe/c", "x2"],
    ]) {
      await c.publish(t, m);
    }
    await c.end();
    const r = await p.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(text(r), "pipe/a x1\npipe/c x2\n");
  });

  it("--json prints one object per line: topic, payload, qos, retain, properties", async () => {
    const c = await connect(url, { protocolVersion: 5, reconnect: false });
    await c.publish("json/r", "kept", { qos: 1, retain: true });
    const sub = await subscribed(procs, [
      ...host(),
      "-V",
      "5",
      "-q",
      "1",
      "-t",
      "json/#",
      "--json",
      "-C",
      "3",
    ]);
    await c.publish("json/p", '{"t":21.5}', {
      qos: 1,
      properties: {
        contentType: "application/json",
        userProperties: [
          ["k", "v"],
          ["k", "w"],
        ],
        correlationData: new Uint8Array([1, 2, 0xff]),
      },
    });
    await c.publish("json/bin", new Uint8Array([0, 0xff, 0x10]));
    await c.publish("json/r", "", { qos: 1, retain: true });
    await c.end();
    const r = await sub.done;
    assert.equal(r.code, 0, r.stderr);
    const lines = text(r)
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    for (const l of lines) delete l.properties?.subscriptionIdentifiers;
    assert.deepEqual(lines, [
      { topic: "json/r", payload: "kept", qos: 1, retain: true, properties: {} },
      {
        topic: "json/p",
        payload: '{"t":21.5}',
        qos: 1,
        retain: false,
        properties: {
          contentType: "application/json",
          userProperties: [
            ["k", "v"],
            ["k", "w"],
          ],
          correlationData: "AQL/",
          correlationDataEncoding: "base64",
        },
      },
      {
        topic: "json/bin",
        payload: "AP8Q",
        payloadEncoding: "base64",
        qos: 0,
        retain: false,
        properties: {},
      },
    ]);
  });

  it("-W: no message in time exits 27 with 'Timed out', as mosquitto_sub", async () => {
    const r = await procs.cli(["sub", ...host(), "-t", "quiet/#", "-W", "1"]).done;
    assert.equal(r.code, 27);
    assert.equal(r.stderr, "Timed out\n");
    assert.equal(r.stdout.length, 0);
  });

  it("--retained-only --remove-retained prints the retained messages, clears them, exits at the first live one", async () => {
    const c = await connect(url, { protocolVersion: 5, reconnect: false });
    await c.publish("ret/a", "1", { qos: 1, retain: true });
    await c.publish("ret/b", "2", { qos: 1, retain: true });
    const r = await procs.cli([
      "sub",
      ...host(),
      "-t",
      "ret/#",
      "--retained-only",
      "--remove-retained",
      "-v",
      "-W",
      "10",
    ]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(text(r).split("\n").sort(), ["", "ret/a 1", "ret/b 2"]);
    const got: Message[] = [];
    c.on("message", (m) => got.push(m));
    await c.subscribe("ret/#");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(got, [], "the retained messages were cleared");
    await c.end();
  });

  it("-R skips retained messages, -T filters topics out, -N prints no newlines", async () => {
    const c = await connect(url, { reconnect: false });
    await c.publish("mix/old", "stale", { qos: 1, retain: true });
    const sub = await subscribed(procs, [
      ...host(),
      "-t",
      "mix/#",
      "-R",
      "-T",
      "mix/skip/#",
      "-N",
      "-C",
      "2",
    ]);
    await c.publish("mix/skip/x", "no");
    await c.publish("mix/a", "A");
    await c.publish("mix/b", "B");
    await c.end();
    const r = await sub.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(text(r), "AB");
  });

  it("-c -i keeps a session: -E sets it up, the next run prints what was queued meanwhile", async () => {
    const setup = await procs.cli([
      "sub",
      ...host(),
      "-t",
      "durable/#",
      "-q",
      "1",
      "-c",
      "-i",
      "cli-durable",
      "-E",
    ]).done;
    assert.equal(setup.code, 0, setup.stderr);
    const c = await connect(url, { reconnect: false });
    await c.publish("durable/a", "one", { qos: 1 });
    await c.publish("durable/b", "two", { qos: 1 });
    await c.end();
    // The queued messages arrive right behind CONNACK: none may be lost.
    const r = await procs.cli([
      "sub",
      ...host(),
      "-c",
      "-i",
      "cli-durable",
      "-t",
      "durable/#",
      "-q",
      "1",
      "-v",
      "-C",
      "2",
    ]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(text(r), "durable/a one\ndurable/b two\n");
  });

  it("a refused connection: the message names the address, the exit status is 1", async () => {
    const closed = await freePort();
    const r = await procs.cli(["sub", "-h", "127.0.0.1", "-p", String(closed), "-t", "a"]).done;
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `Error: connection refused by 127.0.0.1:${closed} — is a broker running?\n`,
    );
  });

  it("an authenticator's refusal exits with the CONNACK code and says so (3.1.1: 5, MQTT 5: 0x87)", async () => {
    const authPort = String(tcpPort(auth));
    const [v311, v5, ok] = await Promise.all([
      procs.cli([
        "pub",
        "-h",
        "127.0.0.1",
        "-p",
        authPort,
        "-t",
        "a",
        "-m",
        "x",
        "-u",
        "alice",
        "-P",
        "wrong",
      ]).done,
      procs.cli(["pub", "-h", "127.0.0.1", "-p", authPort, "-t", "a", "-m", "x", "-V", "5"]).done,
      procs.cli([
        "pub",
        "-L",
        `mqtt://alice:s3cret@127.0.0.1:${authPort}/url/topic`,
        "-m",
        "x",
        "-V",
        "5",
        "-D",
        "publish",
        "user-property",
        "k",
        "v",
      ]).done,
    ]);
    assert.equal(v311.code, 5);
    assert.match(
      v311.stderr,
      /^Error: connection refused by 127\.0\.0\.1:\d+: not authorised \(CONNACK 0x05\)/,
    );
    assert.equal(v5.code, 135);
    assert.match(
      v5.stderr,
      /^Error: connection refused by 127\.0\.0\.1:\d+: not authorised \(CONNACK 0x87\) — check -u\/-P/,
    );
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("refused subscriptions and publishes are errors with exit status 1", async () => {
    const authPort = String(tcpPort(auth));
    const creds = ["-h", "127.0.0.1", "-p", authPort, "-u", "alice", "-P", "s3cret", "-V", "5"];
    const [sub, pub] = await Promise.all([
      procs.cli(["sub", ...creds, "-t", "secret/#", "-t", "secret/x"]).done,
      procs.cli(["pub", ...creds, "-t", "ro/x", "-m", "x", "-q", "1"]).done,
    ]);
    assert.equal(sub.code, 1);
    assert.match(
      sub.stderr,
      /Error: subscribing to secret\/#: subscription refused \(secret\/#: 0x87\)/,
    );
    assert.match(sub.stderr, /Error: all subscription requests were denied\n$/);
    assert.equal(pub.code, 1);
    assert.match(pub.stderr, /^Error: PUBLISH to ro\/x refused: not authorised \(0x87\)/);
  });

  it("-D publish properties reach the subscriber; -F prints them", async () => {
    const sub = await subscribed(procs, [
      ...host(),
      "-V",
      "5",
      "-t",
      "props/t",
      "-C",
      "1",
      "-F",
      "%t|%p|%P|%C|%R|%D|%E|%F",
    ]);
    const args = [
      "-D",
      "publish",
      "user-property",
      "k",
      "v",
      "-D",
      "publish",
      "content-type",
      "text/plain",
      "-D",
      "publish",
      "response-topic",
      "props/reply",
    ];
    args.push(
      "-D",
      "publish",
      "correlation-data",
      "c-1",
      "-D",
      "publish",
      "message-expiry-interval",
      "60",
      "-D",
      "publish",
      "payload-format-indicator",
      "1",
    );
    const pub = await procs.cli(["pub", ...host(), "-t", "props/t", "-m", "-D", ...args]).done;
    assert.equal(pub.code, 0, pub.stderr);
    const r = await sub.done;
    assert.equal(text(r), "props/t|-D|k:v|text/plain|props/reply|c-1|60|1\n");
  });

  it("rr sends a request with response topic and correlation data and prints the response", async () => {
    const service = await responder(url, "svc/echo");
    const [ok, late] = await Promise.all([
      procs.cli(["rr", ...host(), "-t", "svc/echo", "-e", "svc/reply/1", "-m", "ping", "-v"]).done,
      procs.cli(["rr", ...host(), "-t", "svc/nobody", "-e", "svc/reply/2", "-m", "ping", "-W", "1"])
        .done,
    ]);
    await service.end();
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(text(ok), "svc/reply/1 re: ping\n");
    assert.equal(late.code, 27);
    assert.equal(late.stderr, "Timed out\n");
  });

  it("SIGINT ends sub with status 0; MQTT 5 disconnects with 0x04 so the will is published", async () => {
    const { client, got } = await collector(url, "wills/#");
    const sub = await subscribed(procs, [
      ...host(),
      "-V",
      "5",
      "-t",
      "sig/#",
      "--will-topic",
      "wills/cli",
      "--will-payload",
      "gone",
    ]);
    sub.kill("SIGINT");
    const r = await sub.done;
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      () => got.length === 1,
      () => "the will",
    );
    assert.equal(got[0].text(), "gone");
    await client.end();
  });

  it("bad flags are refused with a message naming the flag, and status 1", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["sub", "-t", "a", "-q", "3"], /-q\/--qos: expected 0, 1 or 2, got "3"/],
      [["sub", "-t", "a", "-F", "%Z"], /-F\/--format: Invalid format specifier 'Z'\./],
      [["pub", "-t", "a", "-m", "x", "-D", "publish"], /-D: expected -D COMMAND IDENTIFIER VALUE/],
      [["sub", "-V", "6", "-t", "a"], /-V\/--protocol-version: expected 31, 311 or 5/],
      [["pub", "-t", "a", "-m", "x", "-c"], /error: -c needs a client id \(-i\)/],
      [
        ["sub", "-p", "1"],
        /error: give a topic filter to subscribe to \(-t\) or unsubscribe from \(-U\)/,
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => procs.cli(args).done));
    results.forEach((r, i) => {
      assert.equal(r.code, 1, `${cases[i][0].join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, cases[i][1]);
      assert.equal(r.stdout.length, 0);
    });
  });
});

// ---- against the real Mosquitto broker, golden against mosquitto_sub --------------------------

const skipMosquitto =
  requireMosquitto() || requirePrograms(["mosquitto_sub", "mosquitto_pub"], "mosquitto-clients");

describe("starling pub / sub against Mosquitto, compared with mosquitto_sub", {
  skip: skipMosquitto,
  concurrency: true,
}, () => {
  let mosquitto: Mosquitto;
  let closed: Mosquitto;
  const procs = new Procs();

  before(async () => {
    // Subscriptions are logged, so a test knows when both subscribers are ready.
    mosquitto = await startMosquitto(["log_type subscribe"]);
    closed = await startMosquitto(["allow_anonymous false"]);
  });
  after(async () => {
    await procs.killAll();
    await mosquitto?.stop();
    await closed?.stop();
  });

  /** Starts mosquitto_sub and starling sub with the same arguments; resolves when the broker logged both subscriptions. */
  async function pair(name: string, args: string[], env: Record<string, string> = {}) {
    const common = ["-h", "127.0.0.1", "-p", String(mosquitto.port), ...args];
    const theirs = procs.start("mosquitto_sub", [...common, "-i", `m-${name}`], { env });
    const ours = procs.cli(["sub", ...common, "-i", `s-${name}`], { env });
    const filter = args[args.indexOf("-t") + 1];
    await waitFor(
      () => mosquitto.log().includes(` m-${name} `) && mosquitto.log().includes(` s-${name} `),
      () =>
        `both subscriptions to ${filter}:\n${mosquitto.log()}\n${ours.stderr()}\n${theirs.stderr()}`,
    );
    return { theirs, ours };
  }

  const SPLIT = "§§";
  const tst = /"tst":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[+-]\d{4}"/;

  it("-F output is byte for byte mosquitto_sub's (formats, widths, quirks, %j), and -v, -N too", async () => {
    const url = mosquitto.url;
    const c5 = await connect(url, { protocolVersion: 5, reconnect: false });
    await c5.publish("g5/ret", "retained one", {
      qos: 1,
      retain: true,
      properties: { userProperties: [["r", "1"]], contentType: "text/plain" },
    });
    await c5.publish("g3/ret", "ret", { qos: 1, retain: true });
    await c5.publish("gt/ret", "time", { retain: true });

    const f5 = `%t|%p|%q|%r|%l|%m|%P|%C|%R|%D|%E|%F|%A|%x|%X${SPLIT}%j`;
    const f3 = `[%-p][%8p][%-8p][%3p][%08p][%8x][%-12x][%3x][%012X][%.2p][%5.2t][%-5.2t][%.1t][%5q][%5r][%5m][%-5m][%05m][%5l][%-5l][%5A][%05A][%-5A][%5C][%5R][%5D][%5E][%05E][%5F][%5S]\\t\\\\@@%%${SPLIT}%j`;
    const ft = `%I${SPLIT}@Y-@m-@d|@z|@a|@A|@b|@B|@e|@j|@u|@w|@C|@y|@G|@g|@V|@U|@W|@D|@F|@%|@@|@n|\\e|\\a`;
    const kolkata = { TZ: "Asia/Kolkata" };
    const [g5, g3, gv, gn, gt] = await Promise.all([
      pair("g5", ["-V", "5", "-q", "2", "-t", "g5/#", "-C", "5", "-F", f5]),
      pair("g3", ["-V", "311", "-q", "1", "-t", "g3/#", "-C", "4", "-F", f3]),
      pair("gv", ["-t", "gv/#", "-C", "4", "-v"]),
      pair("gn", ["-t", "gv/#", "-C", "4", "-N"]),
      pair("gt", ["-t", "gt/#", "-C", "1", "-F", ft], kolkata),
    ]);

    await c5.publish("g5/a", "hello");
    await c5.publish("g5/b", "", { qos: 1 });
    await c5.publish("g5/d", 'tab\t"quote"\\ é', { qos: 1 });
    // QoS 2 last: mosquitto_sub prints a QoS 2 message when PUBREL arrives, starling sub on PUBLISH.
    await c5.publish("g5/c", '{"k":[1,2]}', {
      qos: 2,
      properties: {
        contentType: "application/json",
        responseTopic: "g5/reply",
        correlationData: new TextEncoder().encode("corr"),
        userProperties: [
          ["k", "1"],
          ["k", "2"],
        ],
        messageExpiryInterval: 300,
        payloadFormatIndicator: 1,
      },
    });
    await c5.publish("g3/a", "hello");
    await c5.publish("g3/b", "");
    await c5.publish("g3/c", "x y z", { qos: 1 });
    for (const [t, p] of [
      ["gv/a", "text"],
      ["gv/b", ""],
      ["gv/c", new Uint8Array([1, 0xff, 10, 0x41])],
      ["gv/d", "last"],
    ] as const) {
      await c5.publish(t, p);
    }
    await c5.end();

    const done = async (p: {
      theirs: { done: Promise<Result> };
      ours: { done: Promise<Result> };
    }) => {
      const [theirs, ours] = await Promise.all([p.theirs.done, p.ours.done]);
      assert.equal(ours.code, theirs.code, `exit status: ${ours.stderr}`);
      return { theirs: theirs.stdout, ours: ours.stdout };
    };

    // MQTT 5: the parameters byte for byte; %j as JSON, since property order follows the wire
    // and ours carries the subscription identifier the client asks for.
    const r5 = await done(g5);
    const lines = (b: Buffer) =>
      b
        .toString("utf8")
        .trimEnd()
        .split("\n")
        .map((l) => l.split(SPLIT));
    const [t5, o5] = [lines(r5.theirs), lines(r5.ours)];
    assert.equal(o5.length, 5);
    assert.deepEqual(
      o5.map((l) => l[0]),
      t5.map((l) => l[0]),
    );
    const json = (s: string) => {
      assert.match(s, tst);
      const j = JSON.parse(s);
      delete j.tst;
      if (j.properties !== undefined) {
        delete j.properties["subscription-identifier"];
        if (Object.keys(j.properties).length === 0) delete j.properties;
      }
      return j;
    };
    assert.deepEqual(
      o5.map((l) => json(l[1])),
      t5.map((l) => json(l[1])),
    );

    // 3.1.1: everything byte for byte but the time stamp.
    const r3 = await done(g3);
    const noTst = (b: Buffer) =>
      b.toString("latin1").replace(new RegExp(tst.source, "g"), '"tst":"T"');
    assert.equal(noTst(r3.ours).split("\n").length, 5);
    assert.equal(noTst(r3.ours), noTst(r3.theirs));

    const rv = await done(gv);
    assert.ok(rv.ours.equals(rv.theirs), `-v:\n${rv.ours}\n---\n${rv.theirs}`);
    assert.equal(
      rv.ours.toString("latin1"),
      "gv/a text\ngv/b (null)\ngv/c \x01\xff\n\x41\ngv/d last\n",
    );
    const rn = await done(gn);
    assert.ok(rn.ours.equals(rn.theirs), `-N:\n${rn.ours}\n---\n${rn.theirs}`);

    // Time: %I's clock part and the nanoseconds differ between two processes; the rest must not.
    const rt = await done(gt);
    const clock = (b: Buffer) => b.toString("utf8").replace(/T\d\d:\d\d:\d\d\+0530/, "T…+0530");
    assert.match(rt.ours.toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0530§§/);
    assert.equal(clock(rt.ours), clock(rt.theirs));
  });

  it("pub -l sends lines as mosquitto_pub -l does (empty lines, \\r kept, last line without \\n)", async () => {
    const { client, got } = await collector(mosquitto.url, "lines/#", 4);
    const input = "a\n\nb\r\nlast";
    const common = ["-h", "127.0.0.1", "-p", String(mosquitto.port), "-l", "-q", "1"];
    const [theirs, ours] = await Promise.all([
      procs.start("mosquitto_pub", [...common, "-t", "lines/m"], { input }).done,
      procs.cli(["pub", ...common, "-t", "lines/s"], { input }).done,
    ]);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.equal(ours.code, 0, ours.stderr);
    await waitFor(
      () => got.length === 8,
      () => `8 messages, got ${got.length}`,
    );
    const of = (t: string) => got.filter((m) => m.topic === t).map((m) => m.text());
    assert.deepEqual(of("lines/s"), of("lines/m"));
    assert.deepEqual(of("lines/s"), ["a", "", "b\r", "last"]);
    await client.end();
  });

  it("exit statuses are mosquitto_sub's: CONNACK refusal (3.1.1: 5, MQTT 5: 135)", async () => {
    const args = (v: string) => ["-h", "127.0.0.1", "-p", String(closed.port), "-t", "a", "-V", v];
    const runs = await Promise.all(
      ["311", "5"].flatMap((v) => [
        procs.start("mosquitto_sub", args(v)).done,
        procs.cli(["sub", ...args(v)]).done,
      ]),
    );
    const [m311, s311, m5, s5] = runs;
    assert.equal(m311.code, 5);
    assert.equal(s311.code, m311.code);
    assert.match(s311.stderr, /not authorised \(CONNACK 0x05\)/);
    assert.equal(m5.code, 135);
    assert.equal(s5.code, m5.code);
    assert.match(s5.stderr, /not authorised \(CONNACK 0x87\)/);
  });
});

// ---- the -F interpreter on its own (expected strings are mosquitto_sub 2.0.11's) ---------------

describe("-F format strings, without a broker", () => {
  const message = (
    topic: string,
    payload: string | Uint8Array,
    extra: Partial<Message> = {},
  ): Message => {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    return {
      topic,
      payload: bytes,
      qos: 0,
      retain: false,
      dup: false,
      properties: undefined,
      text: () => new TextDecoder().decode(bytes),
      json: () => JSON.parse(new TextDecoder().decode(bytes)),
      ...extra,
    };
  };
  const fmt = (f: string, m: Message) =>
    render(m, { kind: "format", eol: false, ops: compileFormat(f) }).out.toString("latin1");

  it("widths, precision, padding and mosquitto's quirks", () => {
    const f =
      "[%-p][%8p][%-8p][%3p][%08p][%8x][%-12x][%3x][%012X][%.2p][%5.2t][%-5.2t][%.1t][%5q][%5r][%5m][%-5m][%05m][%5l][%-5l][%5A][%05A][%-5A][%5C][%5R][%5D][%5E][%05E][%5F][%5S]";
    assert.equal(
      fmt(f, message("r/1", "hello", { retain: true })),
      "[hello     ][   hello][hello   ][hel][000hello][    6865][6865        ][ 68][000000006865][hello][   r/][r/   ][r][0][1][    0][0    ][00000][    5][5    ][     ][00000][     ][     ][][][     ][00000][     ][     ]",
    );
  });

  it("MQTT 5 properties, escapes and %j", () => {
    const m = message("p/props", '{"a":1}', {
      qos: 1,
      packetId: 7,
      properties: {
        userProperties: [
          ["k", "v"],
          ["k2", "v2"],
        ],
        contentType: "text/json",
        responseTopic: "resp/x",
        correlationData: new TextEncoder().encode("abc"),
        messageExpiryInterval: 100,
        payloadFormatIndicator: 1,
      },
    });
    assert.equal(
      fmt("%t|%P|%C|%R|%D|%E|%F|%A|%m|%q|%l|%p\\\\\\t@@%%", m),
      'p/props|k:v k2:v2|text/json|resp/x|abc|100|1||7|1|7|{"a":1}\\\t@%',
    );
    assert.match(
      fmt("%j", m),
      /^\{"tst":"[^"]+","topic":"p\/props","qos":1,"retain":0,"payloadlen":7,"mid":7,"properties":\{"user-properties":\{"k":"v","k2":"v2"\},"content-type":"text\/json","response-topic":"resp\/x","correlation-data":"abc","payload-format-indicator":1,"message-expiry-interval":100\},"payload":"\{\\"a\\":1\}"\}$/,
    );
    assert.equal(JSON.parse(fmt("%J", m)).payload.a, 1);
    assert.match(fmt("%j", message("b", new Uint8Array([1, 255]))), /"payload":\[1,255\]\}$/);
    assert.match(fmt("%j", message("e", "")), /"payloadlen":0,"payload":null\}$/);
    assert.equal(
      toJson(message("b", new Uint8Array([0, 255]))),
      '{"topic":"b","payload":"AP8=","payloadEncoding":"base64","qos":0,"retain":false}',
    );
  });

  it("refuses what mosquitto_sub refuses, with its messages", () => {
    for (const [f, why] of [
      ["%", "Incomplete format specifier."],
      ["%5", "Incomplete format specifier."],
      ["%-", "Incomplete format specifier."],
      ["abc@", "Incomplete format specifier."],
      ["%Z", "Invalid format specifier 'Z'."],
      ["\\q", "Invalid escape specifier 'q'."],
      ["\\", "Incomplete escape specifier."],
    ]) {
      assert.throws(() => compileFormat(f), { message: why }, f);
    }
  });
});
