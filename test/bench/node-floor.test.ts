/**
 * The broker bench's Node floor (bench/broker/node-floor.mjs): a measuring
 * stick, but one that must answer what the bench's clients send and forward
 * frames byte for byte, however TCP cuts them. Raw bytes in, raw bytes out;
 * and the report never takes it for Starling's best peer.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, describe, it } from "node:test";
import { ratioOf, ratioToBest, type Sample } from "../../bench/broker/report.js";
import type { Metric } from "../../bench/broker/scenarios.js";

const root = new URL("../..", import.meta.url).pathname;

/** Starts the floor; resolves with its port and the lines it printed up to `lines`. */
async function start(
  args: string[],
  lines: number,
): Promise<{ child: ChildProcess; port: number; out: string[] }> {
  const child = spawn(process.execPath, [join(root, "bench/broker/node-floor.mjs"), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`node-floor exited (${code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      out.push(line);
      if (out.length === lines) resolve();
    });
  });
  const m = /^listening (\d+)$/.exec(out[0]);
  assert.ok(m, out[0]);
  return { child, port: Number(m[1]), out };
}

/** A TCP client that reads exact byte counts. */
class Peer {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  closed = false;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.socket.on("data", (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake?.();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  /** The next `n` bytes received. */
  async read(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      if (this.closed) throw new Error(`closed with ${this.#buf.length}/${n} bytes`);
      await new Promise<void>((r) => {
        this.#wake = r;
      });
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Bytes received and not read yet, after waiting `ms`. */
  async rest(ms: number): Promise<Buffer> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#buf;
  }

  /** Writes `bytes` in pieces of `size`, each in its own TCP segment (a pause between). */
  async writeSplit(bytes: Buffer, size: number): Promise<void> {
    for (let i = 0; i < bytes.length; i += size) {
      this.socket.write(bytes.subarray(i, i + size));
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

const str = (s: string) => {
  const b = Buffer.from(s, "latin1");
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    const b = n & 0x7f;
    n >>= 7;
    out.push(n > 0 ? b | 0x80 : b);
  } while (n > 0);
  return Buffer.from(out);
}
const frame = (first: number, body: Buffer) =>
  Buffer.concat([Buffer.from([first]), varint(body.length), body]);
const connectPacket = (level: 4 | 5, id: string) =>
  frame(
    0x10,
    Buffer.concat([
      str("MQTT"),
      Buffer.from([level, 0x02, 0, 60]),
      ...(level === 5 ? [Buffer.from([0])] : []),
      str(id),
    ]),
  );
const publish = (topic: string, payload: Buffer) =>
  frame(0x30, Buffer.concat([str(topic), payload]));

describe("bench/broker/node-floor.mjs", () => {
  const children: ChildProcess[] = [];
  const peers: Peer[] = [];
  after(() => {
    for (const p of peers) p.socket.destroy();
    for (const c of children) c.kill("SIGKILL");
  });
  const peer = (port: number) => {
    const p = new Peer(port);
    peers.push(p);
    return p;
  };

  it("answers 3.1.1 and 5.0 clients and forwards frames byte for byte, however they are cut", async () => {
    const { child, port } = await start([], 1);
    children.push(child);

    // A CONNECT one byte at a time.
    const sub = peer(port);
    await sub.writeSplit(connectPacket(4, "sub"), 1);
    assert.deepEqual([...(await sub.read(4))], [0x20, 0x02, 0x00, 0x00]);

    // SUBSCRIBE (two filters, one `prefix/#`) and PINGREQ in one chunk.
    sub.socket.write(
      Buffer.concat([
        frame(0x82, Buffer.concat([Buffer.from([0x12, 0x34]), str("t/a"), Buffer.from([0])])),
        frame(0x82, Buffer.concat([Buffer.from([0x00, 0x07]), str("p/#"), Buffer.from([1])])),
        Buffer.from([0xc0, 0x00]),
      ]),
    );
    assert.deepEqual(
      [...(await sub.read(5 + 5 + 2))],
      [0x90, 0x03, 0x12, 0x34, 0x00, 0x90, 0x03, 0x00, 0x07, 0x00, 0xd0, 0x00],
    );

    // A publisher: CONNECT and three PUBLISHes in one chunk, then a 20 KB one in 1000-byte pieces.
    const pub = peer(port);
    const a = publish("t/a", Buffer.from("hello"));
    const b = publish("p/x/y", Buffer.from("deep"));
    const c = publish("p", Buffer.from("parent")); // `p/#` matches `p` itself
    const other = publish("t/b", Buffer.from("nobody"));
    pub.socket.write(Buffer.concat([connectPacket(4, "pub"), a, other, b, c]));
    assert.deepEqual([...(await pub.read(4))], [0x20, 0x02, 0x00, 0x00]);
    const big = publish("t/a", Buffer.alloc(20_000, 0xab));
    await pub.writeSplit(big, 1000);
    const want = Buffer.concat([a, b, c, big]);
    assert.ok((await sub.read(want.length)).equals(want));
    assert.equal((await sub.rest(50)).length, 0, "nothing else (t/b has no subscriber)");

    // MQTT 5.0: CONNACK and SUBACK with empty property lists.
    const v5 = peer(port);
    v5.socket.write(connectPacket(5, "v5"));
    assert.deepEqual([...(await v5.read(5))], [0x20, 0x03, 0x00, 0x00, 0x00]);
    v5.socket.write(
      frame(0x82, Buffer.concat([Buffer.from([0x00, 0x09, 0x00]), str("t/a"), Buffer.from([0])])),
    );
    assert.deepEqual([...(await v5.read(6))], [0x90, 0x04, 0x00, 0x09, 0x00, 0x00]);

    // DISCONNECT closes; the subscriber's subscriptions go with it.
    sub.socket.write(Buffer.from([0xe0, 0x00]));
    await new Promise<void>((r) => sub.socket.once("close", () => r()));
    pub.socket.write(a);
    assert.ok((await v5.read(a.length)).equals(a));
  });

  it("runs as a 2-worker cluster that prints its workers' pids and answers CONNECT", async () => {
    const { child, port, out } = await start(["--workers", "2"], 2);
    children.push(child);
    const m = /^workers (\d+),(\d+)$/.exec(out[1]);
    assert.ok(m, out[1]);
    for (let i = 0; i < 4; i++) {
      const p = peer(port);
      p.socket.write(connectPacket(4, `c${i}`));
      assert.deepEqual([...(await p.read(4))], [0x20, 0x02, 0x00, 0x00]);
    }
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    for (const pid of [Number(m[1]), Number(m[2])]) {
      await new Promise((r) => setTimeout(r, 100));
      assert.throws(() => process.kill(pid, 0), "worker stopped with the primary");
    }
  });
});

describe("bench/broker/report.ts and the Node floor", () => {
  const rate: Metric = { label: "rate", key: "rate", higher: true, format: String };
  const sample = (broker: Sample["broker"], rate: number): Sample => ({
    scenario: "s",
    broker,
    round: 0,
    values: { rate },
    seconds: 1,
  });
  const samples = [
    sample("starling", 100),
    sample("mosquitto", 50),
    sample("aedes", 40),
    sample("node-floor", 400),
    sample("node-floor-2", 800),
  ];

  it("never takes the floor for Starling's best peer", () => {
    const all = ["starling", "mosquitto", "aedes", "node-floor", "node-floor-2"] as const;
    assert.equal(ratioToBest(samples, "s", rate, all), 2);
    assert.ok(Number.isNaN(ratioToBest(samples, "s", rate, ["starling", "node-floor"])));
  });

  it("gives Starling / floor and floor / Mosquitto", () => {
    assert.equal(ratioOf(samples, "s", rate, "starling", "node-floor"), 0.25);
    assert.equal(ratioOf(samples, "s", rate, "node-floor", "mosquitto"), 8);
  });
});
