/**
 * The open-file limit (issue 7: "as many concurrent connections as the
 * machine's file limit allows"). Once a process has no descriptor left, the
 * operating system refuses new connections and Node closes them unseen, so
 * the broker says ahead how many it can hold: at start (a warning when
 * `max_connections` was set above that), and when the connections near that
 * room. It keeps
 * serving the connections it has, and takes new ones again once some close.
 * The broker is `starling broker` as a process under `ulimit -n`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type BrokerExit,
  type BrokerProcess,
  freeLoopbackPort,
  spawnBroker,
} from "../helpers/broker-process.js";

/** CONNECT, MQTT 3.1.1, clean session, keep alive 60, client id `f<i>`. */
function connectPacket(i: number): Buffer {
  const id = Buffer.from(`f${i}`);
  const body = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, id.length]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** Opens a connection and sends CONNECT; resolves with the socket once CONNACK (accepted) arrives, or undefined after `ms`. */
function mqttConnect(port: number, i: number, ms = 3000): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, ms);
    socket.on("error", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    socket.once("data", (d) => {
      clearTimeout(timer);
      if (d[0] === 0x20 && d[3] === 0) resolve(socket);
      else {
        socket.destroy();
        resolve(undefined);
      }
    });
    socket.write(connectPacket(i));
  });
}

function started(b: BrokerProcess | BrokerExit): BrokerProcess {
  if ("code" in b) assert.fail(`the broker exited (${b.code}):\n${b.output}`);
  return b;
}

describe("open-file limit", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("says at start how many connections fit, warns near the limit, keeps its connections and takes new ones once some close", async () => {
    const port = await freeLoopbackPort();
    const broker = started(
      await spawnBroker(["-p", String(port), "--memory", "--ws-port", "0"], { fileLimit: 120 }),
    );
    const sockets: Socket[] = [];
    try {
      const start =
        /INFO open-file limit 120 \((\d+) in use at start\): room for about (\d+) connections/.exec(
          broker.output(),
        );
      assert.ok(start, `start-up warning:\n${broker.output()}`);
      const room = Number(start[2]);
      assert.ok(room > 20 && room < 120, `room ${room}`);

      // More than there is room for, a few at a time.
      let refused = 0;
      for (let i = 0; i < room + 15; i += 5) {
        const batch = await Promise.all([0, 1, 2, 3, 4].map((k) => mqttConnect(port, i + k)));
        for (const s of batch) {
          if (s) sockets.push(s);
          else refused++;
        }
      }
      assert.ok(refused > 0, "some connections beyond the limit were refused");
      assert.ok(
        sockets.length >= Math.floor(room * 0.9),
        `${sockets.length} connected with room for ~${room}`,
      );
      assert.match(
        broker.output(),
        /WARN \d+ connections, near what the open-file limit 120 \(\d+ in use at start\) allows/,
      );
      assert.equal(broker.proc.exitCode, null, "the broker is still running");

      // The connections it holds still work: a PINGREQ on the first is answered.
      const pong = await new Promise<number>((resolve) => {
        sockets[0].once("data", (d) => resolve(d[0]));
        sockets[0].write(Buffer.from([0xc0, 0]));
      });
      assert.equal(pong, 0xd0, "PINGRESP");

      // Some close: new connections are taken again.
      for (const s of sockets.splice(0, 10)) s.destroy();
      await new Promise((r) => setTimeout(r, 300));
      const again = await mqttConnect(port, 9999);
      assert.ok(again, "a new connection after some closed");
      sockets.push(again);
    } finally {
      for (const s of sockets) s.destroy();
      await broker.stop();
    }
  });

  it("warns at start when max_connections is set above what the limit leaves room for", async () => {
    const dir = mkdtempSync(join(tmpdir(), "starling-fd-"));
    dirs.push(dir);
    const port = await freeLoopbackPort();
    const config = join(dir, "starling.toml");
    writeFileSync(
      config,
      `[[listeners]]\ntype = "mqtt"\nhost = "127.0.0.1"\nport = ${port}\n\n[limits]\nmax_connections = 500\n`,
    );
    const broker = started(
      await spawnBroker(["-c", config, "--memory", "--ws-port", "0"], { fileLimit: 120 }),
    );
    try {
      assert.match(
        broker.output(),
        /WARN max_connections 500 is more than the open-file limit 120 \(\d+ in use at start\) leaves room for \(about \d+ connections\): raise the limit/,
      );
    } finally {
      await broker.stop();
    }
  });
});
