/**
 * `starling store inspect DIR` on a data directory written by the durable
 * store: counts as text and as JSON, and clear errors for a directory that
 * is locked by a running process or is not a store.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LmdbStore } from "../../src/broker/store/lmdb.js";
import { runCliSync } from "./run-cli.js";

describe("starling store inspect", () => {
  let base: string;
  let dataDir: string;

  before(async () => {
    base = mkdtempSync(join(tmpdir(), "starling-inspect-"));
    dataDir = join(base, "data");
    const store = await LmdbStore.open(dataDir);
    const session = (clientId: string, disconnectedAt: number) => ({
      clientId,
      version: 5 as const,
      expiryInterval: 3600,
      subscriptions: [
        {
          filter: "a/#",
          qos: 1 as const,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0 as const,
        },
      ],
      disconnectedAt,
    });
    store.putSession(session("online", 0));
    store.putSession(session("away", Date.now()));
    const message = (topic: string) => ({
      topic,
      payload: new TextEncoder().encode("21.5"),
      qos: 1 as const,
      retain: false,
      expiresAt: 0,
      origin: "pub",
    });
    for (let i = 0; i < 3; i++) {
      store.enqueue("away", {
        messageId: store.addMessage(message(`a/${i}`)),
        qos: 1,
        retain: false,
      });
    }
    store.putInflight("online", {
      messageId: store.addMessage(message("a/x")),
      qos: 1,
      retain: false,
      packetId: 7,
      state: "publish",
      order: 1,
    });
    store.setRetained("a/status", store.addMessage({ ...message("a/status"), retain: true }));
    await store.close();
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it("reports sessions, queued, in-flight and retained counts", () => {
    const r = runCliSync(["store", "inspect", dataDir]);
    assert.equal(r.code, 0, r.stderr);
    const line = (label: string) => new RegExp(`^${label}\\s+(.+)$`, "m").exec(r.stdout)?.[1];
    assert.equal(line("sessions"), "2 (1 offline)");
    assert.equal(line("queued messages"), "3");
    assert.equal(line("in-flight messages"), "1");
    assert.equal(line("retained messages"), "1");
    assert.equal(line("stored payloads"), "5");
    assert.equal(line("format"), "2");
  });

  it("--json gives the same figures to machines", () => {
    const r = runCliSync(["store", "inspect", dataDir, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.sessions, 2);
    assert.equal(j.offlineSessions, 1);
    assert.equal(j.queuedMessages, 3);
    assert.equal(j.inflightMessages, 1);
    assert.equal(j.retainedMessages, 1);
    assert.ok(j.sizeBytes > 0);
  });

  it("refuses, naming the directory, something that is not a store; exit 1", () => {
    const other = join(base, "other");
    execFileSync("mkdir", ["-p", other]);
    writeFileSync(join(other, "notes.txt"), "not a store");
    const r = runCliSync(["store", "inspect", other]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`^starling store: .*${other.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
  });
});
