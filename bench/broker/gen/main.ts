/**
 * The broker benchmark's own generator, for the scenarios mqttload cannot
 * run: one process per run, started by bench/broker/run.ts as
 * `node --import tsx bench/broker/gen/main.ts '<json options>'`. Prints one
 * line of JSON on stdout — `{"ok":true,"result":{…}}` or
 * `{"ok":false,"error":"…"}` — and exits. A hard deadline (`deadlineMs`)
 * ends it whatever happens.
 */
import { type ConnMaxOptions, connMax } from "./conn-max.js";
import { type Qos2Options, qos2 } from "./qos2.js";
import { type RetainedOptions, retained } from "./retained.js";
import { type SlowConsumerOptions, slowConsumer } from "./slow-consumer.js";
import { type WildcardOptions, wildcard } from "./wildcard.js";
import type { GenResult } from "./wire.js";

export type GenRequest =
  | ({ scenario: "slow-consumer" } & SlowConsumerOptions)
  | ({ scenario: "retained" } & RetainedOptions)
  | ({ scenario: "qos2" } & Qos2Options)
  | ({ scenario: "wildcard" } & WildcardOptions)
  | ({ scenario: "conn-max" } & ConnMaxOptions);

function run(req: GenRequest): Promise<GenResult> {
  switch (req.scenario) {
    case "slow-consumer":
      return slowConsumer(req);
    case "retained":
      return retained(req);
    case "qos2":
      return qos2(req);
    case "wildcard":
      return wildcard(req);
    case "conn-max":
      return connMax(req);
  }
}

const req = JSON.parse(process.argv[2] ?? "{}") as GenRequest & { deadlineMs: number };
setTimeout(() => {
  process.stdout.write(
    `${JSON.stringify({ ok: false, error: `generator deadline (${req.deadlineMs} ms) reached` })}\n`,
  );
  process.exit(2);
}, req.deadlineMs).unref();

try {
  const result = await run(req);
  process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`);
  process.exit(0);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: (e as Error).message })}\n`);
  process.exit(1);
}
