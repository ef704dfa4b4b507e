/**
 * `starling broker -c FILE` as an operator runs it: `--check` with golden
 * error output; a mosquitto.conf with Mosquitto's own password file (made by
 * the real mosquitto_passwd) and ACL file, run by both the real Mosquitto and
 * Starling, with the same clients getting the same answers; SIGHUP reloading
 * the password and ACL files under load without dropping a connection (and a
 * failed reload keeping the old state); /metrics, /healthz, /readyz.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { runCliSync } from "../cli/run-cli.js";
import { type BrokerProcess, spawnBroker } from "../helpers/broker-process.js";
import { type Mosquitto, requireMosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { requireProgram, waitFor } from "../helpers/programs.js";

const skip = requireMosquitto() || requireProgram("mosquitto_passwd", "mosquitto");

/** `starling broker` as a process (test/helpers/broker-process.ts). */
type Cli = BrokerProcess;

/** Starts `starling broker --memory ARGS`; resolves once its MQTT listener (and WebSocket one, if `expectWs`) is up. */
async function startCli(args: string[], expectWs: boolean): Promise<Cli> {
  // --memory: these tests are about configuration, not the data directory.
  const b = await spawnBroker(["--memory", ...args], { waitForWs: expectWs });
  if ("code" in b) throw new Error(`broker exited with ${b.code} before listening:\n${b.output}`);
  return b;
}

const clients: MqttClient[] = [];
function track(c: MqttClient): MqttClient {
  clients.push(c);
  return c;
}

/** Connects and reports the CONNACK outcome: "ok", or the refusal code. */
async function tryConnect(port: number, options: IClientOptions): Promise<string> {
  const c = track(
    mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    }),
  );
  return new Promise((resolve) => {
    c.once("connect", () => resolve("ok"));
    c.once("error", (err) => {
      const code = (err as { code?: number }).code;
      resolve(code !== undefined ? `refused ${code}` : `error ${err.message}`);
    });
    c.once("close", () => resolve("closed"));
  });
}

async function connected(port: number, options: IClientOptions): Promise<MqttClient> {
  return track(
    await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    }),
  );
}

describe("starling broker -c", { skip }, () => {
  let dir: string;
  const running: (Cli | Mosquitto)[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "starling-cli-config-"));
    // Mosquitto started as root reads its files as the unprivileged `mosquitto` user.
    chmodSync(dir, 0o755);
    // Mosquitto's own tool makes the password file: the drop-in case.
    execFileSync("mosquitto_passwd", ["-b", "-c", join(dir, "passwd"), "alice", "alice-pw"]);
    execFileSync("mosquitto_passwd", ["-b", join(dir, "passwd"), "bob", "bob-pw"]);
    writeFileSync(
      join(dir, "acl"),
      [
        "# alice reads and writes her tree; bob may only write sensors",
        "user alice",
        "topic readwrite alice/#",
        "topic read sensors/#",
        "",
        "user bob",
        "topic write sensors/#",
        "",
      ].join("\n"),
    );
    chmodSync(join(dir, "passwd"), 0o644);
    chmodSync(join(dir, "acl"), 0o644);
  });
  after(async () => {
    for (const c of clients) c.end(true);
    for (const r of running) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("--check: a valid file passes; errors name file, line, key, found and expected; exit 1", () => {
    const good = join(dir, "good.toml");
    writeFileSync(
      good,
      '[[listeners]]\ntype = "mqtt"\nport = 1884\n\n[limits]\nmax_inflight = 5\n',
    );
    const ok = runCliSync(["broker", "--check", "-c", good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `${good}: OK (starling format; mqtt://127.0.0.1:1884)\n`);

    // Flags override the file: --port changes its first MQTT listener, --ws-port adds one.
    const flags = runCliSync(["broker", "--check", "-c", good, "-p", "1999", "--ws-port", "9001"]);
    assert.equal(flags.code, 0, flags.stderr);
    assert.equal(
      flags.stdout,
      `${good}: OK (starling format; mqtt://127.0.0.1:1999, ws://127.0.0.1:9001)\n`,
    );

    const bad = join(dir, "bad.toml");
    writeFileSync(bad, "[limits]\nmax_inflght = 5\n");
    const r = runCliSync(["broker", "--check", "-c", bad]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^starling broker: ${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: limits\\.max_inflght: unknown key \\(did you mean max_inflight\\?\\)`,
      ),
    );

    // A file the configuration names is loaded by --check too.
    const conf = join(dir, "missing-passwd.conf");
    writeFileSync(conf, "listener 1884 127.0.0.1\npassword_file nowhere/passwd\n");
    const m = runCliSync(["broker", "--check", "-c", conf]);
    assert.equal(m.code, 1);
    assert.match(m.stderr, /nowhere\/passwd/);
  });

  it("the same mosquitto.conf, password file and ACL file: Mosquitto and Starling give the same answers", async () => {
    const shared = [
      "allow_anonymous false",
      `password_file ${join(dir, "passwd")}`,
      `acl_file ${join(dir, "acl")}`,
    ];
    const mosq = await startMosquitto(shared);
    running.push(mosq);
    const conf = join(dir, "mosquitto.conf");
    writeFileSync(conf, ["listener 0 127.0.0.1", "persistence false", ...shared, ""].join("\n"));
    const star = await startCli(["-c", conf], false);
    running.push(star);

    async function answers(port: number, version: 4 | 5) {
      const out: Record<string, unknown> = {};
      const v = { protocolVersion: version } as const;
      out.anonymous = await tryConnect(port, { ...v, clientId: "anon" });
      const wrong = await tryConnect(port, {
        ...v,
        clientId: "w",
        username: "alice",
        password: "nope",
      });
      // Both refuse; Mosquitto says "not authorized", Starling "bad user name or password" (docs/configuration.md).
      out.wrongPassword = wrong.startsWith("refused") ? "refused" : wrong;
      const alice = await connected(port, {
        ...v,
        clientId: `alice-${version}`,
        username: "alice",
        password: "alice-pw",
      });
      const bob = await connected(port, {
        ...v,
        clientId: `bob-${version}`,
        username: "bob",
        password: "bob-pw",
      });
      // MQTT.js rejects when any code is a failure; the SUBACK's codes are on the error.
      out.aliceSuback = await alice
        .subscribeAsync(["alice/x", "sensors/+", "bob/x"], { qos: 1 })
        .then(
          (granted) => granted.map((g) => g.qos),
          (err: { packet?: { granted?: (number | { qos: number })[] } }) =>
            (err.packet?.granted ?? []).map((g) => (typeof g === "number" ? g : g.qos)),
        );
      const got: string[] = [];
      alice.on("message", (t) => got.push(t));
      await bob.publishAsync("sensors/t1", "21.5", { qos: 0 }); // bob may write sensors
      await bob.publishAsync("alice/x", "from bob", { qos: 0 }); // bob may not write alice/
      await alice.publishAsync("alice/x", "own", { qos: 0 });
      await new Promise((r) => setTimeout(r, 300));
      out.aliceReceived = got.sort();
      return out;
    }
    for (const version of [4, 5] as const) {
      const m = await answers(mosq.port, version);
      const s = await answers(star.port, version);
      // One deliberate difference (docs/configuration.md): Mosquitto grants a SUBSCRIBE the ACL
      // gives no read right for (and then delivers nothing); Starling refuses it in the SUBACK
      // (0x80 in 3.1.1, 0x87 in 5.0), so the client knows.
      assert.deepEqual(m.aliceSuback, [1, 1, 1]);
      assert.deepEqual(s.aliceSuback, [1, 1, version === 5 ? 0x87 : 0x80]);
      delete m.aliceSuback;
      delete s.aliceSuback;
      assert.deepEqual(
        s,
        m,
        `MQTT ${version === 4 ? "3.1.1" : "5.0"}: Starling ${JSON.stringify(s)} vs Mosquitto ${JSON.stringify(m)}`,
      );
      assert.deepEqual(
        m.aliceReceived,
        ["alice/x", "sensors/t1"],
        "the test itself exercises the ACL",
      );
    }
  });

  it("SIGHUP reloads the password and ACL files under load without dropping a connection; a broken file keeps the old state", async () => {
    const passwd = join(dir, "passwd-live");
    execFileSync("mosquitto_passwd", ["-b", "-c", passwd, "alice", "alice-pw"]);
    const acl = join(dir, "acl-live");
    writeFileSync(acl, "user alice\ntopic readwrite load/#\n");
    const toml = join(dir, "live.toml");
    writeFileSync(
      toml,
      [
        "[[listeners]]",
        'type = "mqtt"',
        "port = 0",
        "[[listeners]]",
        'type = "ws"',
        "port = 0",
        "[auth]",
        "allow_anonymous = false",
        `password_file = "${passwd}"`,
        `acl_file = "${acl}"`,
        "[sys]",
        "interval = 0",
        "",
      ].join("\n"),
    );
    const cli = await startCli(["-c", toml], true);
    running.push(cli);
    const port = cli.port;
    const sub = await connected(port, {
      clientId: "sub",
      username: "alice",
      password: "alice-pw",
      protocolVersion: 5,
    });
    const pub = await connected(port, {
      clientId: "pub",
      username: "alice",
      password: "alice-pw",
      protocolVersion: 5,
    });
    let drops = 0;
    for (const c of [sub, pub]) c.on("close", () => drops++);
    await sub.subscribeAsync("load/#", { qos: 1 });
    let received = 0;
    sub.on("message", () => received++);

    // Publish continuously (QoS 1) while the files change and the broker reloads three times.
    let sent = 0;
    let stopLoad = false;
    const load = (async () => {
      const deadline = Date.now() + 20_000;
      while (!stopLoad && Date.now() < deadline) {
        await pub.publishAsync(`load/${sent % 10}`, String(sent), { qos: 1 });
        sent++;
      }
    })();

    assert.equal(
      await tryConnect(port, { username: "carol", password: "carol-pw", protocolVersion: 5 }),
      "refused 134",
    );
    execFileSync("mosquitto_passwd", ["-b", passwd, "carol", "carol-pw"]);
    writeFileSync(acl, "user alice\ntopic readwrite load/#\nuser carol\ntopic read load/#\n");
    const reloads = () => (cli.output().match(/reloaded password files/g) ?? []).length;
    cli.proc.kill("SIGHUP");
    await waitFor(() => reloads() === 1, "the first reload", 5000);
    assert.equal(
      await tryConnect(port, { username: "carol", password: "carol-pw", protocolVersion: 5 }),
      "ok",
    );

    // A password file that cannot be parsed: the reload fails, the old users still work.
    writeFileSync(passwd, "carol:$9$not-a-hash\n");
    cli.proc.kill("SIGHUP");
    await waitFor(
      () => /reload failed, keeping the previous state/.test(cli.output()),
      "the failed reload",
      5000,
    );
    assert.equal(
      await tryConnect(port, { username: "carol", password: "carol-pw", protocolVersion: 5 }),
      "ok",
    );
    assert.equal(
      await tryConnect(port, { username: "alice", password: "alice-pw", protocolVersion: 5 }),
      "ok",
    );

    cli.proc.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 300));
    stopLoad = true;
    await load;
    await waitFor(() => received >= sent, `all ${sent} messages to arrive (got ${received})`, 5000);
    assert.ok(sent > 20, `load was running (${sent} messages)`);
    assert.equal(drops, 0, "no connection was dropped by the reloads");

    // The HTTP endpoints on the WebSocket listener.
    const base = `http://127.0.0.1:${cli.wsPort}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/);
    const text = await metrics.text();
    const value = (line: RegExp) => Number(line.exec(text)?.[1]);
    assert.ok(value(/^starling_connections (\d+)$/m) >= 2, "two clients connected at least");
    assert.ok(
      value(/^starling_messages_received_total\{qos="1"\} (\d+)$/m) >= sent,
      "QoS 1 publishes counted",
    );
    assert.ok(value(/^starling_auth_failures_total (\d+)$/m) >= 1, "carol's first refusal counted");
    assert.ok(value(/^starling_subscriptions (\d+)$/m) >= 1);
    assert.match(text, /^starling_messages_dropped_total\{reason="queue_full"\} \d+$/m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });
});
