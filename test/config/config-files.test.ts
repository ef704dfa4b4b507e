/**
 * Configuration files: starling.toml and mosquitto.conf parse into the same
 * model; every error names the file, the line, the key, what was found and
 * what was expected (golden messages), unknown keys get "did you mean", and
 * the example file in the repository is valid.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { detectFormat, loadConfig } from "../../src/broker/config/load.js";
import { ConfigError } from "../../src/broker/config/model.js";
import { loadMosquittoConfig } from "../../src/broker/config/mosquitto.js";
import { parseTomlConfig } from "../../src/broker/config/toml.js";
import { DEFAULT_LIMITS } from "../../src/broker/core/options.js";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "starling-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function tomlError(text: string): string {
  try {
    parseTomlConfig(text, "starling.toml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

async function mosquittoError(text: string): Promise<string> {
  const file = write("bad.conf", text);
  try {
    await loadMosquittoConfig(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.message.replace(file, "bad.conf");
  }
  assert.fail("expected a ConfigError");
}

describe("starling.toml", () => {
  it("the repository's starling.example.toml is valid and says what the defaults are", async () => {
    const config = await loadConfig(join(root, "starling.example.toml"));
    assert.equal(config.format, "starling");
    assert.deepEqual(
      config.listeners.map((l) => [l.type, l.host, l.port, l.path]),
      [
        ["mqtt", "127.0.0.1", 1883, "/mqtt"],
        ["ws", "127.0.0.1", 8083, "/mqtt"],
      ],
    );
    // Every limit in the example equals the built-in default, and every limit is there.
    assert.deepEqual(config.limits, DEFAULT_LIMITS);
    assert.equal(config.log.level, "info");
    assert.equal(config.sysInterval, 10);
  });

  it("maps sections to the broker's settings; relative paths resolve against the file", () => {
    const config = parseTomlConfig(
      `
[[listeners]]
type = "mqtts"
host = "0.0.0.0"
cert = "certs/server.crt"
key = "certs/server.key"
ca = "certs/ca.crt"
require_certificate = true

[[listeners]]
type = "wss"
port = 9443
cert = "/abs/server.crt"
key = "/abs/server.key"

[auth]
allow_anonymous = false
password_file = "passwd"
acl_file = "/etc/starling/acl"

[limits]
max_inflight = 5
queue_overflow = "drop-oldest"
maximum_qos = 1

[log]
level = "debug"
format = "json"

[sys]
interval = 0
`,
      "/etc/starling/starling.toml",
    );
    const [tls, wss] = config.listeners;
    assert.equal(tls.type, "mqtts");
    assert.equal(tls.port, 8883, "the TLS default port");
    assert.equal(tls.tls?.cert, "/etc/starling/certs/server.crt");
    assert.equal(tls.tls?.requireCertificate, true);
    assert.equal(tls.tls?.minVersion, "TLSv1.2");
    assert.equal(wss.port, 9443);
    assert.equal(wss.tls?.cert, "/abs/server.crt");
    assert.deepEqual(config.auth, {
      allowAnonymous: false,
      passwordFile: "/etc/starling/passwd",
      aclFile: "/etc/starling/acl",
    });
    assert.deepEqual(config.limits, {
      maxInflight: 5,
      queueOverflow: "drop-oldest",
      maximumQoS: 1,
    });
    assert.deepEqual(config.log, { level: "debug", format: "json" });
    assert.equal(config.sysInterval, 0);
  });

  // Golden messages: file, line, key, what was found, what was expected.
  const golden: [string, string, string][] = [
    [
      "an unknown key, with a near miss",
      "[limits]\nmax_inflght = 10\n",
      "starling.toml:2: limits.max_inflght: unknown key (did you mean max_inflight?);",
    ],
    [
      "an unknown section",
      "[limit]\nmax_inflight = 10\n",
      "starling.toml:1: limit: unknown section (did you mean limits?);",
    ],
    [
      "a value of the wrong type",
      '[limits]\n\nmax_inflight = "ten"\n',
      'starling.toml:3: limits.max_inflight: expected an integer ≥ 0, found "ten"',
    ],
    [
      "a value out of range",
      "[limits]\nmaximum_qos = 3\n",
      "starling.toml:2: limits.maximum_qos: expected an integer in 0..2, found 3",
    ],
    [
      "a bad enum value",
      '[log]\nlevel = "verbose"\n',
      'starling.toml:2: log.level: expected "debug" or "info" or "warn" or "error" or "silent", found "verbose"',
    ],
    [
      "a key in the second listener",
      '[[listeners]]\ntype = "mqtt"\n\n[[listeners]]\ntype = "ws"\nport = 70000\n',
      "starling.toml:6: listeners.port: expected an integer in 0..65535, found 70000",
    ],
    [
      "TLS settings on a plain listener",
      '[[listeners]]\ntype = "mqtt"\ncert = "a.crt"\n',
      'starling.toml:3: listeners.cert: only for TLS listeners (type "mqtts" or "wss"), found on a "mqtt" listener',
    ],
    [
      "a TLS listener without a key",
      '[[listeners]]\ntype = "mqtts"\ncert = "a.crt"\n',
      'starling.toml:1: listeners.key: missing: a "mqtts" listener needs cert and key (PEM files)',
    ],
    [
      "a listener without a type",
      "[[listeners]]\nport = 1884\n",
      'starling.toml:1: listeners.type: missing: expected "mqtt", "mqtts", "ws" or "wss" in [[listeners]] #1',
    ],
    ["TOML that does not parse", "[limits]\nmax_inflight = \n", "starling.toml:2: not valid TOML:"],
  ];
  for (const [what, text, expected] of golden) {
    it(`error: ${what}`, () => {
      const message = tomlError(text);
      assert.ok(message.startsWith(expected), `got:      ${message}\nexpected: ${expected}…`);
    });
  }
});

describe("mosquitto.conf", () => {
  it("reads the common directives: listeners, TLS, auth files, limits, logging, include_dir", async () => {
    const inc = join(dir, "conf.d");
    mkdirSync(inc, { recursive: true });
    writeFileSync(join(inc, "20-limits.conf"), "max_inflight_messages 7\n");
    writeFileSync(join(inc, "10-limits.conf"), "max_inflight_messages 3\nmax_keepalive 120\n");
    writeFileSync(join(inc, "ignored.txt"), "nonsense here\n");
    const file = write(
      "mosquitto.conf",
      `# a typical Mosquitto 2 setup
per_listener_settings false
allow_anonymous false
password_file /etc/mosquitto/passwd
acl_file acl

listener 1883 127.0.0.1

listener 8883
certfile /etc/mosquitto/certs/server.crt
keyfile /etc/mosquitto/certs/server.key
cafile /etc/mosquitto/certs/ca.crt
require_certificate true
use_identity_as_username true
tls_version tlsv1.3

listener 8080
protocol websockets

max_queued_messages 0
max_queued_bytes 1000
max_packet_size 65536
message_size_limit 1024
max_connections -1
sys_interval 0
retain_available false
allow_zero_length_clientid false
use_username_as_clientid true
log_type error
log_type warning
log_dest stdout
include_dir conf.d
`,
    );
    const c = await loadMosquittoConfig(file);
    assert.equal(c.format, "mosquitto");
    assert.deepEqual(
      c.listeners.map((l) => [l.type, l.host, l.port]),
      [
        ["mqtt", "127.0.0.1", 1883],
        ["mqtts", "0.0.0.0", 8883],
        ["ws", "0.0.0.0", 8080],
      ],
    );
    assert.deepEqual(c.listeners[1].tls, {
      cert: "/etc/mosquitto/certs/server.crt",
      key: "/etc/mosquitto/certs/server.key",
      ca: "/etc/mosquitto/certs/ca.crt",
      requireCertificate: true,
      useIdentityAsUsername: true,
      minVersion: "TLSv1.3",
    });
    assert.deepEqual(c.auth, {
      allowAnonymous: false,
      passwordFile: "/etc/mosquitto/passwd",
      aclFile: join(dir, "acl"),
    });
    assert.equal(c.limits.maxInflight, 7, "include_dir files are read in name order");
    assert.equal(c.limits.maxKeepalive, 120);
    assert.equal(c.limits.maxQueuedMessages, Number.MAX_SAFE_INTEGER, "0 means no limit");
    assert.equal(c.limits.maxQueuedBytes, 1000);
    assert.equal(c.limits.maxPacketSize, 65536);
    assert.equal(c.limits.maxPayloadSize, 1024);
    assert.equal(c.limits.maxConnections, Number.MAX_SAFE_INTEGER, "-1 means no limit");
    assert.equal(c.limits.retainAvailable, false);
    assert.equal(c.limits.allowZeroLengthClientId, false);
    assert.equal(c.limits.useUsernameAsClientId, true);
    assert.equal(c.sysInterval, 0);
    assert.equal(c.log.level, "warn", "the most verbose log_type given");
    assert.deepEqual(c.warnings, []);
  });

  it("without any listener: the loopback defaults; `port` alone makes an all-interfaces listener", async () => {
    const none = await loadMosquittoConfig(write("none.conf", "sys_interval 5\n"));
    assert.deepEqual(
      none.listeners.map((l) => [l.type, l.host, l.port]),
      [
        ["mqtt", "127.0.0.1", 1883],
        ["ws", "127.0.0.1", 8083],
      ],
    );
    const port = await loadMosquittoConfig(write("port.conf", "port 1884\n"));
    assert.deepEqual(
      port.listeners.map((l) => [l.type, l.host, l.port]),
      [["mqtt", "0.0.0.0", 1884]],
    );
  });

  it("per_listener_settings true: auth directives belong to the listener above them", async () => {
    const c = await loadMosquittoConfig(
      write(
        "per.conf",
        "per_listener_settings true\nlistener 1883 127.0.0.1\nallow_anonymous true\nlistener 1884\nallow_anonymous false\npassword_file pw\n",
      ),
    );
    assert.equal(c.listeners[0].allowAnonymous, true);
    assert.equal(c.listeners[0].passwordFile, undefined);
    assert.equal(c.listeners[1].allowAnonymous, false);
    assert.equal(c.listeners[1].passwordFile, join(dir, "pw"));
    assert.equal(c.auth.allowAnonymous, undefined);
  });

  it("unsupported directives produce one warning each, naming them", async () => {
    const c = await loadMosquittoConfig(
      write(
        "warn.conf",
        "listener 1883\nautosave_interval 60\nautosave_interval 120\nconnection bridge1\naddress 10.0.0.1\nfrobnicate yes\npersistence true\n",
      ),
    );
    const file = join(dir, "warn.conf");
    assert.deepEqual(
      c.warnings.map((w) => w.replace(file, "warn.conf")),
      [
        "warn.conf:2: autosave_interval: not supported by Starling; ignored",
        "warn.conf:4: connection: not supported by Starling; ignored",
        "warn.conf:5: address: not supported by Starling; ignored",
        "warn.conf:6: frobnicate: unknown directive; ignored",
      ],
    );
  });

  const golden: [string, string, string][] = [
    [
      "a bad boolean",
      "allow_anonymous yes\n",
      'bad.conf:1: allow_anonymous: expected true or false, found "yes"',
    ],
    [
      "a bad port",
      "listener 99999\n",
      'bad.conf:1: listener: expected a port in 0..65535, found "99999"',
    ],
    [
      "a missing value",
      "\nmax_inflight_messages\n",
      "bad.conf:2: max_inflight_messages: expected 1 value, found 0",
    ],
    [
      "a bad number",
      "max_queued_messages lots\n",
      'bad.conf:1: max_queued_messages: expected an integer ≥ 0, found "lots"',
    ],
    [
      "a bad protocol",
      "listener 8080\nprotocol http\n",
      'bad.conf:2: protocol: expected mqtt or websockets, found "http"',
    ],
    [
      "an old TLS version",
      "listener 8883\ntls_version tlsv1\n",
      'bad.conf:2: tls_version: expected tlsv1.2 or tlsv1.3 (older versions are not offered), found "tlsv1"',
    ],
    [
      "a certificate without its key",
      "listener 8883\ncertfile a.crt\n",
      "bad.conf: keyfile: listener on port 8883",
    ],
  ];
  for (const [what, text, expected] of golden) {
    it(`error: ${what}`, async () => {
      const message = await mosquittoError(text);
      assert.ok(message.startsWith(expected), `got:      ${message}\nexpected: ${expected}…`);
    });
  }
});

describe("format detection", () => {
  it("recognises each format by content", () => {
    assert.equal(detectFormat("# c\nlistener 1883\nallow_anonymous true\n"), "mosquitto");
    assert.equal(detectFormat("# c\n[limits]\nmax_inflight = 3\n"), "starling");
    assert.equal(detectFormat("sys.interval = 3\n"), "starling");
    assert.equal(detectFormat("\n\n# only comments\n"), "starling");
  });

  it("loadConfig picks the parser from the content, or as told", async () => {
    const m = write("detect.conf", "listener 1885 127.0.0.1\n");
    assert.equal((await loadConfig(m)).format, "mosquitto");
    const t = write("detect.toml", '[[listeners]]\ntype = "mqtt"\nport = 1885\n');
    assert.equal((await loadConfig(t)).format, "starling");
    await assert.rejects(loadConfig(join(dir, "missing.toml")), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /missing\.toml: cannot read: ENOENT/);
      return true;
    });
  });
});

describe("persistence settings", () => {
  it("durable by default (issue 6): data in ./data, sync full; a mosquitto.conf keeps Mosquitto's default (off)", async () => {
    const c = parseTomlConfig("", "/etc/starling/starling.toml");
    assert.deepEqual(c.persistence, { enabled: true, location: "./data", sync: "full" });
    const m = await loadMosquittoConfig(write("plain.conf", "listener 1883\n"));
    assert.equal(m.persistence.enabled, false);
    const on = await loadMosquittoConfig(write("on.conf", "listener 1883\npersistence true\n"));
    assert.equal(on.persistence.enabled, true);
  });

  it("[persistence] enabled, location (relative to the file) and sync", () => {
    const c = parseTomlConfig(
      '[persistence]\nenabled = true\nlocation = "state"\nsync = "relaxed"\n',
      "/etc/starling/starling.toml",
    );
    assert.deepEqual(c.persistence, {
      enabled: true,
      location: "/etc/starling/state",
      sync: "relaxed",
    });
  });

  it("a bad sync value names the key and what is expected", () => {
    assert.match(tomlError('[persistence]\nsync = "fast"\n'), /sync/);
    assert.match(tomlError('[persistence]\nsync = "fast"\n'), /"full" or "relaxed"/);
  });

  it("mosquitto.conf: persistence true and persistence_location turn the store on, without a warning", async () => {
    const c = await loadMosquittoConfig(
      write("persist.conf", "listener 1883\npersistence true\npersistence_location /var/lib/mq/\n"),
    );
    assert.equal(c.persistence.enabled, true);
    assert.equal(c.persistence.location, "/var/lib/mq");
    assert.deepEqual(c.warnings, []);
    const off = await loadMosquittoConfig(write("nopersist.conf", "persistence false\n"));
    assert.equal(off.persistence.enabled, false);
  });
});
