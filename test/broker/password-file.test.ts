/**
 * Mosquitto password files (src/broker/auth/password-file.ts): parsing,
 * errors that name file, line and user (never the hash), editing, and
 * verification against hashes written by the real `mosquitto_passwd` —
 * fixed vectors recorded from mosquitto_passwd 2.0.11, and fresh files made
 * by the installed program.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEFAULT_ITERATIONS,
  hashPassword,
  hashPlainTextFile,
  PasswordFile,
  PasswordFileError,
  parseHash,
  usernameProblem,
} from "../../src/broker/auth/password-file.js";
import { Programs, requireProgram } from "../helpers/programs.js";

const bytes = (s: string) => new TextEncoder().encode(s);

/**
 * Written by `mosquitto_passwd -c -b f alice secret` (default: $7$, 101
 * iterations) and `mosquitto_passwd -H sha512 -b f bob hunter2` (2.0.11).
 */
const ALICE_7 =
  "alice:$7$101$CmkUhP9ZGxm76hDc$5RmacnMwuLCF9USW9DzfrNiyPJzu6tDIK98xd5vShcwCIe/Wx3iaud7l4scVA9z3Hi4/lX9H7Rtv8eMTNSSj2Q==";
const BOB_6 =
  "bob:$6$H4RKHIpajO2JXUBQ$14eNC0Az8k4oC4hCjMJCE1/JjgXbdXBJ8vVJve5aF7Q7gkZeoM5bQ6xpZYAqimpqkHlWpDue+GMgAP4yeTKXsw==";

/** The error `fn` throws, checked to be a PasswordFileError. */
function parseError(text: string, path = "passwd"): PasswordFileError {
  try {
    PasswordFile.parse(text, path);
  } catch (err) {
    assert.ok(err instanceof PasswordFileError, `expected a PasswordFileError, got ${err}`);
    return err;
  }
  assert.fail("expected the parse to fail");
}

describe("password file: mosquitto_passwd's formats (recorded vectors)", () => {
  const file = PasswordFile.parse(`${ALICE_7}\n${BOB_6}\n`, "vectors");

  it("$7$ (PBKDF2-HMAC-SHA512, 101 iterations): the right password verifies, others do not", async () => {
    assert.equal(await file.verify("alice", bytes("secret")), true);
    assert.equal(await file.verify("alice", bytes("Secret")), false);
    assert.equal(await file.verify("alice", bytes("")), false);
    assert.equal(await file.verify("alice", bytes("hunter2")), false);
  });

  it("$6$ is SHA-512(password ‖ salt), not sha512-crypt: the right password verifies, others do not", async () => {
    assert.equal(await file.verify("bob", bytes("hunter2")), true);
    assert.equal(await file.verify("bob", bytes("hunter3")), false);
    assert.equal(await file.verify("bob", bytes("secret")), false);
  });

  it("an unknown user never verifies", async () => {
    assert.equal(await file.verify("carol", bytes("secret")), false);
    assert.equal(file.has("carol"), false);
  });

  it("verify() hashes off the event loop: timers keep firing during a slow hash", async () => {
    // ~150 ms of PBKDF2 here; a synchronous hash would starve the interval.
    const salt = Buffer.alloc(12).toString("base64");
    const digest = Buffer.alloc(64).toString("base64");
    const slow = PasswordFile.parse(`u:$7$250000$${salt}$${digest}\n`, "p");
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const ok = await slow.verify("u", bytes("pw"));
    clearInterval(timer);
    assert.equal(ok, false);
    assert.ok(ticks >= 2, `the event loop ran ${ticks} timer ticks during the hash`);
  });

  it("parses the parts of each hash", () => {
    const a = file.hashOf("alice");
    assert.equal(a?.format, "pbkdf2-sha512");
    assert.equal(a?.format === "pbkdf2-sha512" && a.iterations, 101);
    assert.equal(a?.salt.length, 12);
    assert.equal(a?.hash.length, 64);
    assert.equal(file.hashOf("bob")?.format, "sha512");
  });
});

describe("password file: parsing", () => {
  it("ignores blank lines and # comments, accepts CRLF, keeps the order, serializes byte for byte", () => {
    const text = `# users\n\n${BOB_6}\r\n  # indented comment\n${ALICE_7}   \n`;
    const file = PasswordFile.parse(text, "p");
    assert.deepEqual(file.users(), ["bob", "alice"]);
    assert.equal(file.size, 2);
    // CRs are dropped; everything else (comments, trailing spaces) is kept.
    assert.equal(file.serialize(), text.replace("\r", ""));
  });

  it("a file without a final newline and an empty file", () => {
    assert.deepEqual(PasswordFile.parse(ALICE_7, "p").users(), ["alice"]);
    const empty = PasswordFile.parse("", "p");
    assert.equal(empty.size, 0);
    assert.equal(empty.serialize(), "");
  });

  it("a user name may contain spaces and any character but ':'", async () => {
    const file = PasswordFile.parse("", "p");
    await file.set("José Ñ", "pw", 10);
    const again = PasswordFile.parse(file.serialize(), "p");
    assert.equal(await again.verify("José Ñ", bytes("pw")), true);
  });

  it("an unknown hash format names file:line, the user and what was expected, never the hash", () => {
    const err = parseError(`${ALICE_7}\n\nbob:$5$rounds=5000$abc$defsecret\n`);
    assert.equal(
      err.message,
      'passwd:3: user "bob": unknown hash format "$5$…" (expected $6$ or $7$ as written by mosquitto_passwd)',
    );
    assert.equal(err.file, "passwd");
    assert.equal(err.line, 3);
    assert.equal(err.user, "bob");
    assert.doesNotMatch(err.message, /defsecret|abc/);
  });

  it("a plain-text password is refused without quoting it, pointing at -U", () => {
    const err = parseError("carol:hunter2\n", "/etc/passwd-file");
    assert.match(err.message, /^\/etc\/passwd-file:1: user "carol": not a hashed password/);
    assert.match(err.message, /starling passwd -U/);
    assert.doesNotMatch(err.message, /hunter2/);
  });

  const cases: [string, string, RegExp][] = [
    ["no colon", "justaname\n", /^passwd:1: expected "user:hash"/],
    ["empty user", `:${ALICE_7.slice(6)}\n`, /^passwd:1: empty user name$/],
    [
      "too few fields",
      "u:$7$101$CmkUhP9ZGxm76hDc\n",
      /^passwd:1: user "u": a \$7\$ hash has 3 fields/,
    ],
    [
      "salt of 16 bytes (Mosquitto drops such entries)",
      "u:$7$1000$4N6iYVgXwlPu02S8QZ/6Sg==$KKR2jhjt/fknPhShtnUptLnGSTIB0dwI08mTDzXB/Q+MefB7+TdpoiDD5K8uLQwpCKyLC51dCzvXGvpSKc06KQ==\n",
      /^passwd:1: user "u": the salt is not 12 bytes of base64/,
    ],
    [
      "hash not base64",
      `u:$6$H4RKHIpajO2JXUBQ$${"!".repeat(88)}\n`,
      /^passwd:1: user "u": the hash is not 64 bytes of base64$/,
    ],
    [
      "iterations not a number",
      ALICE_7.replace("$101$", "$1e3$").replace("alice", "u"),
      /^passwd:1: user "u": the iteration count of a \$7\$ hash must be a whole number/,
    ],
    [
      "zero iterations",
      ALICE_7.replace("$101$", "$0$").replace("alice", "u"),
      /must be a whole number from 1 to 2147483647$/,
    ],
  ];
  for (const [name, text, expected] of cases) {
    it(`error: ${name}`, () => {
      const err = parseError(text);
      assert.match(err.message, expected);
      assert.doesNotMatch(err.message, /5RmacnMw|14eNC0Az|KKR2jhjt/); // never a hash
    });
  }

  it("a user listed twice is an error naming both lines", () => {
    const err = parseError(`${ALICE_7}\n${BOB_6}\n${ALICE_7}\n`);
    assert.equal(err.message, 'passwd:3: user "alice": listed twice (first on line 1)');
  });

  it("load() of a missing file names it", async () => {
    await assert.rejects(PasswordFile.load("/nonexistent/dir/passwd"), {
      name: "PasswordFileError",
      message: "/nonexistent/dir/passwd: cannot read the password file: no such file",
    });
  });

  it("parseHash accepts what hashPassword writes", async () => {
    const h = parseHash(await hashPassword("pw", 1234));
    assert.ok(typeof h !== "string");
    assert.equal(h.format === "pbkdf2-sha512" && h.iterations, 1234);
  });
});

describe("password file: editing", () => {
  it("set() adds at the end as $7$ with a fresh 12-byte salt and the default iteration count", async () => {
    const file = PasswordFile.parse(`${ALICE_7}\n`, "p");
    await file.set("carol", "pw");
    assert.deepEqual(file.users(), ["alice", "carol"]);
    const h = file.hashOf("carol");
    assert.equal(h?.format === "pbkdf2-sha512" && h.iterations, DEFAULT_ITERATIONS);
    assert.equal(h?.salt.length, 12);
    assert.equal(await file.verify("carol", bytes("pw")), true);
    assert.match(
      file.serialize(),
      /^alice:\$7\$101\$.*\ncarol:\$7\$50000\$[A-Za-z0-9+/]{16}\$.{88}\n$/,
    );
  });

  it("set() of an existing user changes the password in place; salts differ each time", async () => {
    const file = PasswordFile.parse(`${ALICE_7}\n${BOB_6}\n`, "p");
    await file.set("alice", "new", 10);
    assert.deepEqual(file.users(), ["alice", "bob"]);
    assert.equal(await file.verify("alice", bytes("new")), true);
    assert.equal(await file.verify("alice", bytes("secret")), false);
    const salt1 = file.hashOf("alice")?.salt;
    await file.set("alice", "new", 10);
    assert.notDeepEqual(file.hashOf("alice")?.salt, salt1);
    assert.equal(file.serialize().split("\n")[1], BOB_6); // untouched lines stay byte for byte
  });

  it("set() takes the password as bytes too (not necessarily UTF-8)", async () => {
    const file = PasswordFile.parse("", "p");
    await file.set("u", Uint8Array.of(0xff, 0x00, 0x80), 10);
    assert.equal(await file.verify("u", Uint8Array.of(0xff, 0x00, 0x80)), true);
    assert.equal(await file.verify("u", Uint8Array.of(0xff, 0x00)), false);
  });

  it("set() refuses user names the file cannot hold, and bad iteration counts", async () => {
    const file = PasswordFile.parse("", "p");
    for (const user of ["", "a:b", "a\nb", "#x", "  # x", "   "]) {
      assert.notEqual(usernameProblem(user), undefined, JSON.stringify(user));
      await assert.rejects(file.set(user, "pw", 10), RangeError);
    }
    await assert.rejects(file.set("u", "pw", 0), RangeError);
    await assert.rejects(file.set("u", "pw", 1.5), RangeError);
    assert.equal(file.size, 0);
  });

  it("delete() removes the user and its line only", () => {
    const file = PasswordFile.parse(`# c\n${ALICE_7}\n${BOB_6}\n`, "p");
    assert.equal(file.delete("alice"), true);
    assert.equal(file.delete("alice"), false);
    assert.equal(file.has("alice"), false);
    assert.equal(file.serialize(), `# c\n${BOB_6}\n`);
  });

  it("hashPlainTextFile (-U) hashes plain text, keeps hashes, comments and ':' inside passwords", async () => {
    const text = `# c\nplain:text\n${ALICE_7}\ncol:pw:with:colon\n`;
    const { text: out, converted } = await hashPlainTextFile(text, "p", 10);
    assert.equal(converted, 2);
    const file = PasswordFile.parse(out, "p");
    assert.deepEqual(file.users(), ["plain", "alice", "col"]);
    assert.equal(await file.verify("plain", bytes("text")), true);
    assert.equal(await file.verify("col", bytes("pw:with:colon")), true);
    assert.equal(await file.verify("alice", bytes("secret")), true);
    // Twice is harmless (mosquitto_passwd 2.0 -U would hash the hashes).
    const again = await hashPlainTextFile(out, "p", 10);
    assert.equal(again.converted, 0);
    assert.equal(again.text, out);
  });
});

describe("password file: files made by the real mosquitto_passwd", {
  skip: requireProgram("mosquitto_passwd", "mosquitto"),
}, () => {
  const programs = new Programs();
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "starling-passwd-"));
  });
  after(async () => {
    await programs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("default ($7$) and -H sha512 ($6$) entries verify the right password and refuse wrong ones", async () => {
    const path = join(dir, "mosq");
    await programs.run("mosquitto_passwd", ["-c", "-b", path, "alice", "correct horse"]);
    await programs.run("mosquitto_passwd", ["-H", "sha512", "-b", path, "bob", "b0b!"]);
    await programs.run("mosquitto_passwd", ["-H", "sha512-pbkdf2", "-b", path, "ünï", "ß€"]);
    const file = await PasswordFile.load(path);
    assert.deepEqual(file.users(), ["alice", "bob", "ünï"]);
    assert.equal(file.hashOf("alice")?.format, "pbkdf2-sha512");
    assert.equal(file.hashOf("bob")?.format, "sha512");
    assert.equal(await file.verify("alice", bytes("correct horse")), true);
    assert.equal(await file.verify("alice", bytes("correct horse ")), false);
    assert.equal(await file.verify("bob", bytes("b0b!")), true);
    assert.equal(await file.verify("bob", bytes("b0b")), false);
    assert.equal(await file.verify("ünï", bytes("ß€")), true);
    assert.equal(await file.verify("ünï", bytes("ss€")), false);
  });

  it("mosquitto_passwd edits a file Starling wrote, and the result still verifies here", async () => {
    const path = join(dir, "ours");
    const file = PasswordFile.parse("", path);
    await file.set("carol", "from starling", 2000);
    writeFileSync(path, file.serialize());
    await programs.run("mosquitto_passwd", ["-b", path, "dave", "from mosquitto"]);
    const both = await PasswordFile.load(path);
    assert.deepEqual(both.users(), ["carol", "dave"]);
    assert.equal(await both.verify("carol", bytes("from starling")), true);
    assert.equal(await both.verify("dave", bytes("from mosquitto")), true);
    await programs.run("mosquitto_passwd", ["-D", path, "carol"]);
    assert.deepEqual((await PasswordFile.load(path)).users(), ["dave"]);
    assert.doesNotMatch(readFileSync(path, "utf8"), /carol/);
  });
});
