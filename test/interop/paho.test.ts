/**
 * Interop with Eclipse Paho MQTT Python 1.6.1 (Debian: python3-paho-mqtt),
 * against a broker started here, over TCP, for MQTT 3.1.1 and 5.0. The
 * scenarios live in paho_client.py, run with the system Python (which has
 * the Debian package; a pyenv `python3` on PATH may not), and report JSON.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Broker } from "../../src/broker/index.js";
import { startBroker, tcpPort } from "../helpers/broker.js";
import { Programs, requirePythonModule } from "../helpers/programs.js";

const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./paho_client.py", import.meta.url));

const skip = requirePythonModule(PYTHON, "paho.mqtt.client", "python3-paho-mqtt");

type Brief = [topic: string, payload: string, qos: number, retain: boolean];
type Results = Record<string, unknown>;

describe("interop: Paho MQTT Python", { skip }, () => {
  let broker: Broker;
  const programs = new Programs();
  const results = new Map<string, Results>();

  before(async () => {
    broker = await startBroker();
    const port = String(tcpPort(broker));
    const wsPort = String(broker.listeners.find((l) => l.type === "ws")?.port);
    // Both protocol versions at once, on distinct topics and client ids.
    await Promise.all(
      ["311", "5"].map(async (version) => {
        const r = await programs.run(PYTHON, [SCRIPT, port, wsPort, version, `paho${version}`], {
          timeoutMs: 45_000,
        });
        results.set(version, JSON.parse(r.stdout) as Results);
      }),
    );
  });
  after(async () => {
    await programs.killAll();
    await broker?.close();
  });

  /** The result of one scenario; a scenario that raised fails here with its traceback. */
  function result<T>(version: string, scenario: string): T {
    const r = results.get(version)?.[scenario] as { error?: string; trace?: string } | undefined;
    assert.ok(r !== undefined, `no result for ${scenario} (v${version})`);
    if (r.error !== undefined) assert.fail(`${scenario} (v${version}): ${r.error}\n${r.trace}`);
    return r as T;
  }

  for (const [version, label] of [
    ["311", "3.1.1"],
    ["5", "5.0"],
  ] as const) {
    const t = `paho${version}`;

    it(`${label}: QoS 0, 1 and 2 round trips`, () => {
      const r = result<{ granted: number[]; messages: Brief[] }>(version, "qos");
      assert.deepEqual(r.granted, [2]);
      assert.deepEqual(r.messages, [
        [`${t}/qos/0`, "m0", 0, false],
        [`${t}/qos/1`, "m1", 1, false],
        [`${t}/qos/2`, "m2", 2, false],
      ]);
    });

    it(`${label}: a retained message reaches a later subscriber; an empty one clears it`, () => {
      const r = result<{ later: Brief[]; after_clear: Brief[] }>(version, "retained");
      assert.deepEqual(r.later, [[`${t}/ret`, "kept", 1, true]]);
      assert.deepEqual(r.after_clear, [[`${t}/ret`, "live", 1, false]]);
    });

    it(`${label}: a socket closed without DISCONNECT has its will published`, () => {
      const r = result<unknown[]>(version, "will");
      const expected: unknown[] = [`${t}/will`, "gone", 1, false];
      if (version === "5") expected.push([["why", "socket closed"]]);
      assert.deepEqual(r, expected);
    });

    it(`${label}: a persistent session resumes with the QoS 1 messages queued while away`, () => {
      const r = result<{ present: boolean[]; messages: Brief[] }>(version, "persistent");
      // Session Present: new, resumed, then false again after a clean start.
      assert.deepEqual(r.present, [false, true, false]);
      assert.deepEqual(r.messages, [
        [`${t}/persist`, "away1", 1, false],
        [`${t}/persist`, "away2", 1, false],
        [`${t}/persist`, "away3", 1, false],
      ]);
    });

    it(`${label}: over WebSocket (/mqtt): QoS 0, 1 and 2 round trips and a 256 kB payload`, () => {
      const r = result<Results>(version, "websocket");
      assert.deepEqual(r, {
        granted: [2],
        messages: [
          [`${t}/ws/0`, "w0", 0, false],
          [`${t}/ws/1`, "w1", 1, false],
          [`${t}/ws/2`, "w2", 2, false],
        ],
        big_intact: true,
      });
    });

    it(`${label}: a client silent past 1.5 x keepalive is disconnected and its will published`, () => {
      const r = result<{ will: Brief; elapsed_ok: boolean; elapsed: number }>(
        version,
        "keepalive_will",
      );
      assert.deepEqual(r.will, [`${t}/ka`, "silent", 1, false]);
      assert.ok(
        r.elapsed_ok,
        `will after ${r.elapsed} s, expected 1.5 s (+ the broker's 0.5 s sweep)`,
      );
    });
  }

  it("5.0: user properties (repeated keys, in order) and content type are forwarded", () => {
    const r = result<Results>("5", "user_properties");
    assert.deepEqual(r, {
      payload: "body",
      user: [
        ["k", "v"],
        ["k", "v2"],
        ["colour", "blue"],
      ],
      contentType: "text/plain",
    });
  });

  it("5.0: request/response with Response Topic and binary Correlation Data", () => {
    const r = result<Results>("5", "request_response");
    assert.deepEqual(r, {
      topic: "paho5/rr/reply",
      payload: "re: ping",
      correlation: "00636f7272ff",
    });
  });
});
