/**
 * The broker for the client benchmark, in its own process so that it does
 * not share an event loop (or a CPU-time count) with the clients measured.
 * Started by bench/client/run.ts: prints `{"url": "mqtt://127.0.0.1:PORT"}` on
 * one line once listening, and closes when its stdin ends (the parent exited
 * or is done) or after a hard limit, so it never outlives the run.
 */
import { Broker } from "../../src/broker/index.js";

/** The whole benchmark is meant to take ~3 minutes; the broker gives up well after that. */
const HARD_LIMIT_MS = 10 * 60_000;

const broker = await Broker.start({
  listeners: [{ type: "tcp", host: "127.0.0.1", port: 0 }],
  sysInterval: 0,
});
process.stdout.write(`${JSON.stringify({ url: broker.url("tcp") })}\n`);

let closing = false;
async function stop(): Promise<void> {
  if (closing) return;
  closing = true;
  await broker.close();
  process.exit(0);
}
process.stdin.on("end", () => void stop());
process.stdin.on("error", () => void stop());
process.stdin.resume();
process.on("SIGTERM", () => void stop());
setTimeout(() => void stop(), HARD_LIMIT_MS).unref();
