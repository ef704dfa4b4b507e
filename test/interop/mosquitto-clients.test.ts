/**
 * Interop with Eclipse Mosquitto's command-line clients (mosquitto_pub,
 * mosquitto_sub, mosquitto_rr from the Debian package mosquitto-clients),
 * against a broker started here, over TCP, for MQTT 3.1, 3.1.1 and 5.0.
 *
 * Outputs are checked exactly, with `-v` or `-F` format strings (man
 * mosquitto_sub, "OUTPUT FORMAT"): %t topic, %q QoS, %r retain flag,
 * %p payload, %P user properties, %C content type, %R response topic,
 * %D correlation data, %S subscription identifier.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import mqtt from "mqtt";
import type { Broker } from "../../src/broker/index.js";
import { startBroker, tcpPort } from "../helpers/broker.js";
import {
  Programs,
  type Running,
  requireProgram,
  requirePrograms,
  waitFor,
} from "../helpers/programs.js";

const skip = requirePrograms(["mosquitto_pub", "mosquitto_sub"], "mosquitto-clients");
// mosquitto_rr ships with mosquitto-clients 2.0 and later (Debian 11 onwards).
const skipRr = skip || requireProgram("mosquitto_rr", "mosquitto-clients (2.0 or later)");

/** Seconds mosquitto_sub waits for messages before giving up (-W): a backstop, never reached when all is well. */
const WAIT_S = "10";

describe("interop: mosquitto_pub / mosquitto_sub / mosquitto_rr", { skip }, () => {
  let broker: Broker;
  let port: string;
  const programs = new Programs();
  let tmp: string;

  before(async () => {
    broker = await startBroker();
    port = String(tcpPort(broker));
    tmp = await mkdtemp(join(tmpdir(), "starling-interop-"));
  });
  afterEach(() => programs.killAll());
  after(async () => {
    await programs.killAll();
    await broker?.close();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  // mosquitto_sub says nothing when its SUBACK arrives (short of -d, whose lines would mix with
  // the output under test), so readiness is read from the broker's session table instead.
  const online = (id: string) => broker.core.sessions.get(id)?.owner != null;
  const subscribed = (id: string, filter: string) =>
    online(id) && broker.core.sessions.get(id)?.subscriptions.has(filter) === true;

  /**
   * Starts mosquitto_sub on `topic`; resolves once the broker holds its
   * subscription (or once it has already exited cleanly, e.g. after `-C 1`
   * was met by a retained message).
   */
  async function sub(version: string, id: string, topic: string, args: string[]): Promise<Running> {
    const p = programs.start("mosquitto_sub", [
      ...["-h", "127.0.0.1", "-p", port, "-V", version, "-i", id, "-t", topic, "-W", WAIT_S],
      ...args,
    ]);
    await waitFor(
      () => subscribed(id, topic) || p.child.exitCode !== null,
      `mosquitto_sub ${id} to subscribe to ${topic}`,
    );
    if (!subscribed(id, topic) && p.child.exitCode !== 0)
      throw new Error(`mosquitto_sub ${id} ended early:\n${p.stdout()}\n${p.stderr()}`);
    return p;
  }

  /** Runs mosquitto_pub to completion (rejects on a non-zero exit). */
  function pub(version: string, topic: string, args: string[]) {
    return programs.run("mosquitto_pub", [
      ...["-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic],
      ...args,
    ]);
  }

  /** Waits for a program to exit on its own (e.g. -C count reached) and returns its stdout. */
  async function output(p: Running): Promise<string> {
    const r = await p.done;
    assert.equal(r.code, 0, `exited with ${r.code ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  for (const [version, label] of [
    ["31", "3.1"],
    ["311", "3.1.1"],
    ["5", "5.0"],
  ] as const) {
    const t = `mq/${version}`;
    const fmt = ["-F", "%t q%q r%r %p"];

    it(`${label}: QoS 0, 1 and 2 round trips; delivered QoS is min(publish, subscription)`, async () => {
      const s2 = await sub(version, `q2-${version}`, `${t}/qos/#`, ["-q", "2", "-C", "3", ...fmt]);
      const s1 = await sub(version, `q1-${version}`, `${t}/qos/#`, ["-q", "1", "-C", "3", ...fmt]);
      const sv = await sub(version, `qv-${version}`, `${t}/qos/+`, ["-q", "2", "-C", "3", "-v"]);
      for (const qos of ["0", "1", "2"])
        await pub(version, `${t}/qos/${qos}`, ["-q", qos, "-m", `m${qos}`]);
      assert.equal(
        await output(s2),
        `${t}/qos/0 q0 r0 m0\n${t}/qos/1 q1 r0 m1\n${t}/qos/2 q2 r0 m2\n`,
      );
      assert.equal(
        await output(s1),
        `${t}/qos/0 q0 r0 m0\n${t}/qos/1 q1 r0 m1\n${t}/qos/2 q1 r0 m2\n`,
      );
      assert.equal(await output(sv), `${t}/qos/0 m0\n${t}/qos/1 m1\n${t}/qos/2 m2\n`);
    });

    if (version === "31") continue; // 3.1 once; the rest on 3.1.1 and 5.0

    it(`${label}: a retained message reaches a later subscriber; an empty retained one clears it`, async () => {
      await pub(version, `${t}/ret`, ["-r", "-q", "1", "-m", "kept"]);
      const later = await sub(version, `ret1-${version}`, `${t}/ret`, [
        "-q",
        "1",
        "-C",
        "1",
        ...fmt,
      ]);
      assert.equal(await output(later), `${t}/ret q1 r1 kept\n`);
      // -n sends a zero-length retained message: it deletes the retained one [MQTT-3.3.1-6].
      await pub(version, `${t}/ret`, ["-r", "-q", "1", "-n"]);
      // A new subscriber gets nothing retained: the first message it sees is the live one.
      const after = await sub(version, `ret2-${version}`, `${t}/ret`, [
        "-q",
        "1",
        "-C",
        "1",
        ...fmt,
      ]);
      await pub(version, `${t}/ret`, ["-q", "1", "-m", "live"]);
      assert.equal(await output(after), `${t}/ret q1 r0 live\n`);
    });

    it(`${label}: a client killed with SIGKILL has its will delivered`, async () => {
      const watcher = await sub(version, `will-w-${version}`, `${t}/will`, [
        ...["-q", "1", "-C", "1"],
        ...fmt,
      ]);
      const doomed = await sub(version, `will-d-${version}`, `${t}/alive`, [
        ...["--will-topic", `${t}/will`, "--will-payload", "gone", "--will-qos", "1"],
      ]);
      doomed.kill("SIGKILL");
      assert.equal(await output(watcher), `${t}/will q1 r0 gone\n`);
    });

    it(`${label}: a persistent session (-c) receives the QoS 1 messages published while it was away`, async () => {
      const id = `persist-${version}`;
      const topic = `${t}/persist`;
      // -E: subscribe, then disconnect normally once the SUBACK arrives.
      const first = programs.start("mosquitto_sub", [
        ...["-h", "127.0.0.1", "-p", port, "-V", version, "-i", id, "-c", "-q", "1"],
        ...["-t", topic, "-E"],
      ]);
      await output(first);
      await waitFor(() => broker.core.sessions.get(id)?.owner === null, `${id} to be offline`);
      for (const n of [1, 2, 3]) await pub(version, topic, ["-q", "1", "-m", `away${n}`]);
      const back = programs.start("mosquitto_sub", [
        ...["-h", "127.0.0.1", "-p", port, "-V", version, "-i", id, "-c", "-q", "1"],
        ...["-t", topic, "-C", "3", "-W", WAIT_S, "-v"],
      ]);
      assert.equal(await output(back), `${topic} away1\n${topic} away2\n${topic} away3\n`);
      // A clean connection ends the session, so nothing is left queued for the id.
      await programs.run("mosquitto_sub", [
        ...["-h", "127.0.0.1", "-p", port, "-V", version, "-i", id, "-t", topic, "-E"],
      ]);
    });

    it(`${label}: bursts of 200 QoS 2 messages (-l, --repeat) arrive complete and in order`, async () => {
      const topic = `${t}/burst`;
      // A small Receive Maximum on 5.0 makes the broker hold messages back and pump them.
      const flow = version === "5" ? ["-D", "connect", "receive-maximum", "3"] : [];
      const s = await sub(version, `burst-${version}`, topic, ["-q", "2", "-C", "400", ...flow]);
      // -l: one message per line of stdin.
      const lines = Array.from({ length: 200 }, (_, i) => `line ${i}\n`).join("");
      await programs.run(
        "mosquitto_pub",
        ["-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic, "-q", "2", "-l"],
        { input: lines },
      );
      await pub(version, topic, ["-q", "2", "-m", "again", "--repeat", "200"]);
      assert.equal(await output(s), lines + "again\n".repeat(200));
    });

    it(`${label}: a 300 kB payload (-f file) arrives intact`, async () => {
      const topic = `${t}/big`;
      const file = join(tmp, `big-${version}`);
      const body = Buffer.alloc(300_000, "0123456789abcdef");
      await writeFile(file, body);
      const s = await sub(version, `big-${version}`, topic, [
        "-q",
        "1",
        "-C",
        "1",
        "-N",
        "-F",
        "%l:%p",
      ]);
      await pub(version, topic, ["-q", "1", "-f", file]);
      assert.equal(await output(s), `300000:${body.toString()}`);
    });
  }

  it("5.0: will properties and Will Delay Interval: delayed, and cancelled by a reconnect", async () => {
    const t = "mq/5/wdelay";
    const watcher = await sub("5", "wd-watch", `${t}/will/#`, [
      "-q",
      "1",
      "-C",
      "1",
      "-F",
      "%t|%P|%C|%p",
    ]);
    const doomed = async (name: string, extra: string[]) =>
      sub("5", `wd-${name}`, `${t}/alive/${name}`, [
        ...["-c", "-x", "30", "--will-topic", `${t}/will/${name}`, "--will-payload", name],
        ...["--will-qos", "1", "-D", "will", "will-delay-interval", "1", ...extra],
      ]);
    const a = await doomed("a", []);
    const b = await doomed("b", [
      ...["-D", "will", "user-property", "k", "v", "-D", "will", "content-type", "text/plain"],
    ]);
    // Both go away; a comes back within the delay (clean start 0), so its will is never sent.
    a.kill("SIGKILL");
    b.kill("SIGKILL");
    const gone = Date.now();
    await waitFor(() => !online("wd-a") && !online("wd-b"), "both wills pending");
    await sub("5", "wd-a", `${t}/alive/a`, ["-c", "-x", "30"]);
    assert.equal(await output(watcher), `${t}/will/b|k:v|text/plain|b\n`);
    assert.ok(
      Date.now() - gone >= 900,
      `will sent after ${Date.now() - gone} ms, before its delay`,
    );
  });

  it("5.0: a message larger than the client's Maximum Packet Size is not sent to it", async () => {
    const t = "mq/5/maxpacket";
    const s = await sub("5", "maxpacket", t, [
      ...["-q", "1", "-C", "1", "-F", "%l %p", "-D", "connect", "maximum-packet-size", "300"],
    ]);
    await pub("5", t, ["-q", "1", "-m", "x".repeat(1000)]);
    await pub("5", t, ["-q", "1", "-m", "small"]);
    assert.equal(await output(s), "5 small\n");
  });

  for (const version of ["311", "5"]) {
    it(`${version === "5" ? "5.0" : "3.1.1"}: UTF-8 topics and payloads; '#' does not match $-topics`, async () => {
      const t = `mq/${version}/ütf-8/€/日本`;
      const all = await sub(version, `utf-${version}`, "#", ["-C", "1", "-v", "-R"]);
      const dollar = await sub(version, `dollar-${version}`, `$starling/${version}/#`, [
        "-C",
        "1",
        "-v",
      ]);
      // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with $.
      await pub(version, `$starling/${version}/x`, ["-m", "dollar"]);
      await pub(version, t, ["-m", "Grüße 🌍"]);
      assert.equal(await output(dollar), `$starling/${version}/x dollar\n`);
      assert.equal(await output(all), `${t} Grüße 🌍\n`);
    });
  }

  it("5.0: user properties, content type, response topic and correlation data are forwarded", async () => {
    const t = "mq/5/props";
    const s = await sub("5", "props", t, ["-q", "1", "-C", "1", "-F", "%P|%C|%R|%D|%p"]);
    await pub("5", t, [
      ...["-q", "1", "-m", "body"],
      ...["-D", "publish", "user-property", "k", "v"],
      ...["-D", "publish", "user-property", "k", "v2"],
      ...["-D", "publish", "user-property", "colour", "blue"],
      ...["-D", "publish", "content-type", "text/plain"],
      ...["-D", "publish", "response-topic", "mq/5/reply"],
      ...["-D", "publish", "correlation-data", "c0ffee"],
    ]);
    // Duplicate keys are kept, in order [MQTT-3.3.2-18].
    assert.equal(await output(s), "k:v k:v2 colour:blue|text/plain|mq/5/reply|c0ffee|body\n");
  });

  it("5.0: subscription identifiers are returned with matching messages", async () => {
    const t = "mq/5/subid";
    const s = await sub("5", "subid", `${t}/+`, [
      ...["-q", "1", "-C", "2", "-F", "%S %t %p"],
      ...["-D", "subscribe", "subscription-identifier", "42"],
    ]);
    await pub("5", `${t}/a`, ["-q", "1", "-m", "one"]);
    await pub("5", `${t}/b`, ["-q", "0", "-m", "two"]);
    assert.equal(await output(s), `42 ${t}/a one\n42 ${t}/b two\n`);
  });

  it("5.0: message expiry interval is forwarded, counted down", async () => {
    const t = "mq/5/expiry";
    const s = await sub("5", "expiry", t, ["-q", "1", "-C", "1", "-F", "%E %p"]);
    await pub("5", t, ["-q", "1", "-m", "soon", "-D", "publish", "message-expiry-interval", "60"]);
    assert.match(await output(s), /^(60|59) soon\n$/);
  });

  it("5.0: mosquitto_rr request/response with a responder", { skip: skipRr }, async () => {
    // The responder is MQTT.js: it answers on the request's Response Topic with its Correlation Data.
    const responder = await mqtt.connectAsync(broker.url("tcp"), {
      protocolVersion: 5,
      clientId: "rr-responder",
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });
    try {
      responder.on("message", (_topic, payload, packet) => {
        const p = packet.properties;
        if (p?.responseTopic === undefined) return;
        responder.publish(p.responseTopic, `answer to ${payload.toString()}`, {
          qos: 1,
          properties: { correlationData: p.correlationData },
        });
      });
      await responder.subscribeAsync("mq/5/rr/request", { qos: 1 });
      const rr = programs.start("mosquitto_rr", [
        ...["-h", "127.0.0.1", "-p", port, "-V", "5", "-q", "1", "-W", WAIT_S],
        ...["-t", "mq/5/rr/request", "-e", "mq/5/rr/response/1", "-m", "question"],
        ...["-D", "publish", "correlation-data", "id-17", "-F", "%t|%D|%p"],
      ]);
      assert.equal(await output(rr), "mq/5/rr/response/1|id-17|answer to question\n");
    } finally {
      responder.end(true);
    }
  });
});
