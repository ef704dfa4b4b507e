/**
 * Bad configuration input never crashes anything: random and mutated text
 * fed to the starling.toml, mosquitto.conf, ACL and password-file parsers
 * either parses or fails with that parser's own error type, whose message
 * names the file — never a TypeError, RangeError or other surprise.
 * Seeded (fast-check), so a failure reproduces.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { AclFile, AclFileError } from "../../src/broker/auth/acl-file.js";
import { PasswordFile, PasswordFileError } from "../../src/broker/auth/password-file.js";
import { ConfigError } from "../../src/broker/config/model.js";
import { loadMosquittoConfig } from "../../src/broker/config/mosquitto.js";
import { parseTomlConfig } from "../../src/broker/config/toml.js";

const dir = mkdtempSync(join(tmpdir(), "starling-config-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Lines that look like each format, recombined and mutated by fast-check. */
const tomlLines = [
  "[limits]",
  "[log]",
  "[auth]",
  "[sys]",
  "[metrics]",
  "[[listeners]]",
  'type = "mqtt"',
  'type = "wss"',
  "port = 1883",
  "port = -1",
  'host = "0.0.0.0"',
  'cert = "a.crt"',
  'key = "a.key"',
  "max_inflight = 10",
  "max_inflight = 1e400",
  "maximum_qos = 2",
  'queue_overflow = "drop-oldest"',
  "level = 3",
  "enabled = yes",
  "limits.max_inflight = 3",
  "a.b.c = { x = 1 }",
  "x = [1, 2, [3]]",
  "date = 1979-05-27T07:32:00Z",
  '"quoted key" = 1',
  "= 1",
  "[",
  "]]",
];
const confLines = [
  "listener 1883",
  "listener 8883 0.0.0.0",
  "listener",
  "listener abc",
  "port 1884",
  "protocol websockets",
  "protocol",
  "certfile a.crt",
  "keyfile a.key",
  "cafile ca.crt",
  "require_certificate true",
  "allow_anonymous maybe",
  "per_listener_settings true",
  "password_file pw",
  "max_queued_messages -5",
  "max_connections -1",
  "max_packet_size 10",
  "log_type everything",
  "log_dest file",
  "include_dir nowhere",
  "tls_version tlsv1.1",
  "# comment",
  "bridge_cafile x",
  "\t",
];
const aclLines = [
  "user alice",
  "user",
  "topic read a/#",
  "topic write",
  "topic readwrite +/b",
  "topic deny #",
  "topic reed a",
  "pattern read c/%c/#",
  "pattern write u/%u",
  "pattern read x%u",
  "topic read %c",
  "topic read a/#/b",
  "# comment",
  "",
];
const passwdLines = [
  `alice:$7$101$aGVsbG8gd29ybGQh$${"A".repeat(86)}==`,
  `bob:$6$aGVsbG8gd29ybGQh$${"B".repeat(86)}==`,
  "carol:$5$x$y",
  "dave:plain",
  ":$7$1$a$b",
  "eve",
  "# comment",
  "frank:$7$abc$def$ghi",
  "",
];

/** Text made of known lines, random junk and random splices. */
const textFrom = (lines: string[]) =>
  fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...lines) },
        { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
        { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
      ),
      { maxLength: 12 },
    )
    .map((ls) => ls.join("\n"));

const runs = { numRuns: 400, seed: 20261125 };

describe("configuration parsers never crash on bad input", () => {
  it("starling.toml: parses or throws ConfigError naming the file", () => {
    fc.assert(
      fc.property(textFrom(tomlLines), (text) => {
        try {
          parseTomlConfig(text, "fuzz.toml");
        } catch (err) {
          assert.ok(
            err instanceof ConfigError,
            `not a ConfigError: ${String(err)}\n--- input:\n${text}`,
          );
          assert.ok(err.message.startsWith("fuzz.toml"), err.message);
        }
      }),
      runs,
    );
  });

  it("mosquitto.conf: loads or throws ConfigError naming the file", async () => {
    const file = join(dir, "fuzz.conf");
    await fc.assert(
      fc.asyncProperty(textFrom(confLines), async (text) => {
        writeFileSync(file, text);
        try {
          await loadMosquittoConfig(file);
        } catch (err) {
          assert.ok(
            err instanceof ConfigError,
            `not a ConfigError: ${String(err)}\n--- input:\n${text}`,
          );
          assert.ok(err.message.startsWith(dir), err.message);
        }
      }),
      { ...runs, numRuns: 200 },
    );
  });

  it("ACL files: parse or throw AclFileError naming the file", () => {
    fc.assert(
      fc.property(textFrom(aclLines), (text) => {
        try {
          AclFile.parse(text, "fuzz.acl");
        } catch (err) {
          assert.ok(
            err instanceof AclFileError,
            `not an AclFileError: ${String(err)}\n--- input:\n${text}`,
          );
          assert.ok(err.message.startsWith("fuzz.acl"), err.message);
        }
      }),
      runs,
    );
  });

  it("password files: parse or throw PasswordFileError naming the file, never echoing a hash", () => {
    fc.assert(
      fc.property(textFrom(passwdLines), (text) => {
        try {
          PasswordFile.parse(text, "fuzz.passwd");
        } catch (err) {
          assert.ok(
            err instanceof PasswordFileError,
            `not a PasswordFileError: ${String(err)}\n--- input:\n${text}`,
          );
          assert.ok(err.message.startsWith("fuzz.passwd"), err.message);
          assert.ok(
            !err.message.includes("A".repeat(20)) && !err.message.includes("B".repeat(20)),
            err.message,
          );
        }
      }),
      runs,
    );
  });
});
