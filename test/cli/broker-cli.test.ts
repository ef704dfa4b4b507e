/**
 * `starling broker` as a user runs it: a real process on a free port, a real
 * client, and a graceful stop on SIGTERM / SIGINT.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { describe, it } from "node:test";
import { RawClient } from "../helpers/raw-client.js";

const root = new URL("../..", import.meta.url).pathname;

interface Running {
  proc: ChildProcess;
  port: number;
  output: () => string;
}

/** Starts the CLI with `args` and resolves once it logs its TCP listener. */
function startCli(args: string[]): Promise<Running> {
  const proc = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`broker did not start within 15 s:\n${out}`));
    }, 15_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]), output: () => out });
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening:\n${out}`));
    });
  });
}

describe("starling broker (CLI)", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`serves MQTT and on ${signal} sends 5.0 clients DISCONNECT 0x8B, then exits 0`, async () => {
      const b = await startCli([
        "broker",
        "--memory",
        "-p",
        "0",
        "--ws-port",
        "0",
        "--sys-interval",
        "0",
      ]);
      try {
        const c = await RawClient.tcp(b.port, 5);
        const connack = await c.connect({
          clientId: "cli-test",
          properties: { sessionExpiryInterval: 60 },
        });
        assert.equal(connack.reasonCode, 0);
        c.send({ type: "pingreq" });
        await c.next("pingresp");
        const exited = once(b.proc, "exit");
        b.proc.kill(signal);
        const disconnect = await c.next("disconnect");
        assert.equal(disconnect.reasonCode, 0x8b);
        const [code] = await exited;
        assert.equal(code, 0);
        assert.match(b.output(), /client cli-test connected .*remote=127\.0\.0\.1:\d+/);
        assert.match(b.output(), /client cli-test disconnected/);
        c.close();
      } finally {
        b.proc.kill("SIGKILL");
      }
    });
  }

  it("logs JSON lines with --log-format json", async () => {
    const b = await startCli([
      "broker",
      "--memory",
      "-p",
      "0",
      "--ws-port",
      "0",
      "--log-format",
      "json",
    ]);
    try {
      const line = b
        .output()
        .split("\n")
        .find((l) => l.includes("listening on"));
      assert.ok(line);
      const entry = JSON.parse(line) as { level: number; msg: string; url: string };
      assert.equal(entry.level, 30);
      assert.match(entry.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      b.proc.kill("SIGKILL");
    }
  });

  it("refuses a bad flag value with a message naming the flag, the value and what was expected", async () => {
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "broker", "-p", "99999"],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let err = "";
    proc.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    const [code] = await once(proc, "exit");
    assert.notEqual(code, 0);
    assert.match(err, /--port: expected an integer from 0 to 65535, got "99999"/);
  });

  it("exits non-zero with a clear message when the port is taken", async () => {
    const first = await startCli(["broker", "--memory", "-p", "0", "--ws-port", "0"]);
    try {
      const proc = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "src/cli/main.ts",
          "broker",
          "--memory",
          "-p",
          String(first.port),
          "--ws-port",
          "0",
        ],
        { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      proc.stderr.on("data", (c: Buffer) => {
        out += c.toString();
      });
      const [code] = await once(proc, "exit");
      assert.equal(code, 1);
      assert.match(out, /cannot start the broker: .*EADDRINUSE/);
    } finally {
      first.proc.kill("SIGKILL");
    }
  });
});
