/**
 * The broker's log output: what an operator reads (one line per event, in
 * order, in the chosen format) and that lines logged during one event-loop
 * turn reach the destination in one write, without being lost at exit or
 * held back when they report an error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { createLogger } from "../../src/broker/logging.js";

/** A destination that records each write it is handed. */
function recorder(): { stream: Writable; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      writes.push(chunk.toString("utf8"));
      done();
    },
  });
  return { stream, writes };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("broker logging", () => {
  it("writes the lines of one turn together, in order, once the turn ends", async () => {
    const { stream, writes } = recorder();
    const log = createLogger({ destination: stream });
    for (let i = 0; i < 100; i++) log.info({ clientId: `c${i}` }, `client c${i} connected`);
    assert.equal(writes.length, 0, "nothing is written while the turn runs");
    await turn();
    await turn();
    assert.equal(writes.length, 1, "one write for the turn's 100 lines");
    const lines = writes[0].split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 100);
    lines.forEach((line, i) => {
      assert.match(
        line,
        new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z INFO client c${i} connected clientId=c${i}$`),
      );
    });
  });

  it("writes an error line at once, after what was logged before it", () => {
    const { stream, writes } = recorder();
    const log = createLogger({ destination: stream });
    log.info({}, "first");
    log.error({ err: new Error("disk full") }, "store failed");
    assert.equal(writes.length, 1, "written before error() returned");
    const [first, second] = writes[0].split("\n");
    assert.match(first, / INFO first$/);
    assert.match(second, / ERROR store failed err=\{.*"message":"disk full"/);
  });

  it("keeps JSON lines as pino writes them", async () => {
    const { stream, writes } = recorder();
    const log = createLogger({ destination: stream, format: "json" });
    log.warn({ clientId: "c1" }, "slow consumer");
    log.info({ n: 2 }, "second");
    await turn();
    await turn();
    const lines = writes
      .join("")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map(({ level, msg, clientId, n }) => ({ level, msg, clientId, n })),
      [
        { level: 40, msg: "slow consumer", clientId: "c1", n: undefined },
        { level: 30, msg: "second", clientId: undefined, n: 2 },
      ],
    );
    assert.equal(typeof lines[0].time, "number");
  });

  it("does not hold more than 64 KiB while a long turn runs", () => {
    const { stream, writes } = recorder();
    const log = createLogger({ destination: stream });
    const text = "x".repeat(1000);
    for (let i = 0; i < 200; i++) log.info({}, text);
    assert.ok(writes.length >= 2, `written during the turn (${writes.length} writes)`);
    for (const w of writes) assert.ok(w.length < 64 * 1024 + 2000, `a write of ${w.length} B`);
  });

  it("writes what is pending when the process exits in the same turn", () => {
    const src = new URL("../../src/broker/logging.ts", import.meta.url).pathname;
    const child = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { createLogger } = await import(${JSON.stringify(src)});
         const log = createLogger();
         for (let i = 0; i < 3; i++) log.info({}, "line " + i);
         process.exit(0);`,
      ],
      { encoding: "utf8", timeout: 20_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(
      child.stderr
        .split("\n")
        .filter((l) => l.includes(" INFO "))
        .map((l) => l.replace(/^\S+ /, "")),
      ["INFO line 0", "INFO line 1", "INFO line 2"],
    );
  });
});
