/**
 * `starling passwd` as a user runs it: creating (-c), adding and changing
 * (-b, piped stdin, a terminal prompt), deleting (-D), hashing plain text
 * (-U), errors and exit statuses — and the drop-in proof both ways: a file
 * made here is accepted by the real Mosquitto broker, and a file made by the
 * real `mosquitto_passwd` is edited here and still accepted there.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import mqtt from "mqtt";
import { PasswordFile } from "../../src/broker/auth/password-file.js";
import { type Mosquitto, requireMosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { Programs, requireProgram, requirePrograms } from "../helpers/programs.js";
import { Procs, starling } from "./run-cli.js";

const bytes = (s: string) => new TextEncoder().encode(s);

/** Keeps test runs quick; the default count is checked once. */
const FAST = ["-I", "1000"];

let dir: string;
const procs = new Procs();
let n = 0;
const fresh = () => join(dir, `passwd-${++n}`);

before(() => {
  dir = mkdtempSync(join(tmpdir(), "starling-passwd-cli-"));
});
afterEach(() => procs.killAll());
after(() => rmSync(dir, { recursive: true, force: true }));

async function passwd(args: string[], input?: string) {
  return procs.cli(["passwd", ...args], input === undefined ? {} : { input }).done;
}

describe("starling passwd", () => {
  it("-c -b creates the file (mode 0600) with a $7$ hash Mosquitto can read, default 50000 iterations", async () => {
    const path = fresh();
    const r = await passwd(["-c", "-b", path, "alice", "s3cret"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout.length, 0);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.match(
      readFileSync(path, "utf8"),
      /^alice:\$7\$50000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==\n$/,
    );
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify("alice", bytes("s3cret")), true);
    assert.equal(await file.verify("alice", bytes("s3cre")), false);
  });

  it("-b adds a user at the end and changes one in place; -I sets the iteration count; the file's mode is kept", async () => {
    const path = fresh();
    writeFileSync(path, "# our users\n");
    await passwd([...FAST, "-b", path, "alice", "one"]);
    await passwd([...FAST, "-b", path, "bob", "two"]);
    chmodSync(path, 0o640);
    const r = await passwd(["-I", "2345", "-b", path, "alice", "three"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(path).mode & 0o777, 0o640);
    const text = readFileSync(path, "utf8");
    assert.match(text, /^# our users\nalice:\$7\$2345\$.*\nbob:\$7\$1000\$.*\n$/);
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify("alice", bytes("three")), true);
    assert.equal(await file.verify("alice", bytes("one")), false);
    assert.equal(await file.verify("bob", bytes("two")), true);
  });

  it("without -b, reads the password as one line from a pipe (printf 'pw\\n' | starling passwd f u)", async () => {
    const path = fresh();
    await passwd([...FAST, "-c", "-b", path, "alice", "a"]);
    const sh = await procs.sh(
      `printf 'piped pw\\r\\nignored\\n' | $STARLING passwd -I 1000 '${path}' bob`,
    ).done;
    assert.equal(sh.code, 0, sh.stderr);
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify("bob", bytes("piped pw")), true);
    const r = await passwd([...FAST, path, "carol"], "no newline at the end");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await (await PasswordFile.load(path)).verify("carol", bytes("no newline at the end")),
      true,
    );
  });

  it("an empty or missing password on stdin is refused (exit 1), the file untouched", async () => {
    const path = fresh();
    await passwd([...FAST, "-c", "-b", path, "alice", "a"]);
    const before = readFileSync(path, "utf8");
    const empty = await passwd([path, "bob"], "\n");
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, "passwd: empty password\n");
    const none = await passwd([path, "bob"]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, "passwd: no password on stdin (expected one line)\n");
    assert.equal(readFileSync(path, "utf8"), before);
  });

  it("-D deletes the user; an unknown user is exit 1 with a message", async () => {
    const path = fresh();
    await passwd([...FAST, "-c", "-b", path, "alice", "a"]);
    await passwd([...FAST, "-b", path, "bob", "b"]);
    const r = await passwd(["-D", path, "alice"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await PasswordFile.load(path)).users(), ["bob"]);
    const again = await passwd(["-D", path, "alice"]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `passwd: ${path}: no user "alice"\n`);
  });

  it("a missing file without -c: exit 1, 'no such file (use -c to create it)', nothing created", async () => {
    const path = join(dir, "missing");
    for (const args of [
      ["-b", path, "u", "p"],
      ["-D", path, "u"],
    ]) {
      const r = await passwd(args);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stderr, `passwd: ${path}: no such file (use -c to create it)\n`);
    }
    const upgrade = await passwd(["-U", path]);
    assert.equal(upgrade.code, 1);
    assert.equal(upgrade.stderr, `passwd: ${path}: no such file\n`);
    assert.throws(() => statSync(path), { code: "ENOENT" });
  });

  it("-c replaces an existing file", async () => {
    const path = fresh();
    await passwd([...FAST, "-c", "-b", path, "alice", "a"]);
    await passwd([...FAST, "-c", "-b", path, "bob", "b"]);
    assert.deepEqual((await PasswordFile.load(path)).users(), ["bob"]);
  });

  it("a broken file is refused with file:line and the user, and left as it was", async () => {
    const path = fresh();
    const text = "alice:$7$101$CmkUhP9ZGxm76hDc$5Rmac\nbob:plain\n";
    writeFileSync(path, text);
    const r = await passwd([...FAST, "-b", path, "carol", "c"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`^passwd: ${path}:1: user "alice": the hash is not 64 bytes of base64\n$`),
    );
    assert.equal(readFileSync(path, "utf8"), text);
  });

  it("-U hashes a plain-text file; running it again changes nothing", async () => {
    const path = fresh();
    writeFileSync(path, "alice:one\nbob:t:w:o\n");
    const r = await passwd([...FAST, "-U", path]);
    assert.equal(r.code, 0, r.stderr);
    const once = readFileSync(path, "utf8");
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify("alice", bytes("one")), true);
    assert.equal(await file.verify("bob", bytes("t:w:o")), true);
    await passwd([...FAST, "-U", path]);
    assert.equal(readFileSync(path, "utf8"), once);
  });

  for (const [args, message] of [
    [["-b", "F", "u"], "-b needs the password after the user"],
    [["F", "u", "pw"], "a password on the command line needs -b"],
    [["-b", "F", "a:b", "pw"], "a user name cannot contain ':'"],
    [["-c", "-D", "F", "u"], "-c and -D do not go together"],
    [["-U", "F", "u"], "-U takes only the file"],
    [["-H", "sha512", "-b", "F", "u", "p"], "-H sha512 (a single salted SHA-512) is too fast"],
    [["-I", "0", "-b", "F", "u", "p"], "-I/--iterations: expected an integer from 1"],
  ] as const) {
    it(`usage error, exit 1: ${args.join(" ")}`, async () => {
      const r = await passwd([...args]);
      assert.equal(r.code, 1);
      assert.ok(r.stderr.includes(message), r.stderr);
    });
  }
});

describe("starling passwd on a terminal", { skip: requireProgram("python3", "python3") }, () => {
  /**
   * Runs the CLI on a pseudo-terminal (python3's pty), answering each prompt
   * with the next of `answers`; resolves with everything the terminal showed.
   */
  async function onTerminal(
    args: string[],
    answers: string[],
  ): Promise<{ code: number | null; screen: string }> {
    const script = `
import os, pty, select, sys, time
args, answers = sys.argv[1:-1], sys.argv[-1].split("\\x1f")
pid, fd = pty.fork()
if pid == 0:
    os.execvp(args[0], args)
screen, deadline = b"", time.time() + 15
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
        if screen.lower().endswith(b"password: ") and answers:
            os.write(fd, answers.pop(0).encode() + b"\\r")
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.write(screen.decode(errors="replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
`;
    const r = await procs.start("python3", [
      "-c",
      script,
      ...starling,
      "passwd",
      ...args,
      answers.join("\x1f"),
    ]).done;
    return { code: r.code, screen: r.stdout.toString() };
  }

  it("asks twice with echo off and saves the password", async () => {
    const path = fresh();
    const { code, screen } = await onTerminal(
      [...FAST, "-c", path, "alice"],
      ["typed pw", "typed pw"],
    );
    assert.equal(code, 0, screen);
    assert.match(screen, /^Password: \r\nReenter password: \r\n$/);
    assert.doesNotMatch(screen, /typed pw/, "the password was echoed");
    assert.equal(await (await PasswordFile.load(path)).verify("alice", bytes("typed pw")), true);
  });

  it("two different answers: exit 1, nothing written", async () => {
    const path = fresh();
    const { code, screen } = await onTerminal([...FAST, "-c", path, "alice"], ["one", "two"]);
    assert.equal(code, 1);
    assert.match(screen, /passwd: the passwords do not match/);
    assert.throws(() => statSync(path), { code: "ENOENT" });
  });
});

describe("drop-in: starling passwd and the real Mosquitto", {
  skip:
    requireMosquitto() ||
    requirePrograms(["mosquitto_pub", "mosquitto_passwd"], "mosquitto-clients mosquitto"),
}, () => {
  const programs = new Programs();
  let mosquitto: Mosquitto | undefined;
  afterEach(async () => {
    await mosquitto?.stop();
    mosquitto = undefined;
    await programs.killAll();
  });

  /** Mosquitto started as root drops to user "mosquitto", which cannot read our 0600 file in a 0700 directory. */
  const asRoot = process.getuid?.() === 0 ? ["user root"] : [];

  async function mosquittoWith(path: string): Promise<Mosquitto> {
    mosquitto = await startMosquitto([...asRoot, "allow_anonymous false", `password_file ${path}`]);
    return mosquitto;
  }

  /** mosquitto_pub's exit status: 0 when the CONNECT was accepted (it then publishes). */
  async function pub(
    m: Mosquitto,
    user: string | undefined,
    password?: string,
  ): Promise<number | null> {
    const creds =
      user === undefined ? [] : ["-u", user, ...(password === undefined ? [] : ["-P", password])];
    const r = await programs.start("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(m.port),
      "-t",
      "t",
      "-m",
      "x",
      ...creds,
    ]).done;
    return r.code;
  }

  /** MQTT.js's CONNACK code: 0 accepted, else the refusal. */
  function mqttjs(
    m: Mosquitto,
    protocolVersion: 4 | 5,
    username: string,
    password: string,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(m.url, {
        protocolVersion,
        username,
        password,
        reconnectPeriod: 0,
      });
      const timer = setTimeout(() => {
        client.end(true);
        reject(new Error("MQTT.js: no CONNACK from Mosquitto within 10 s"));
      }, 10_000);
      const finish = (code: number) => {
        clearTimeout(timer);
        client.end(true);
        resolve(code);
      };
      client.once("connect", () => finish(0));
      client.once("error", (err) => finish(Number((err as { code?: number }).code ?? -1)));
    });
  }

  it("Mosquitto accepts the right passwords of a file made by starling passwd (-b, pipe, default iterations) and refuses wrong ones", async () => {
    const path = fresh();
    await passwd(["-c", "-b", path, "alice", "alice pw"]);
    await passwd(["-I", "101", path, "bob"], "bob pw\n");
    const m = await mosquittoWith(path);
    assert.equal(await pub(m, "alice", "alice pw"), 0, m.log());
    assert.equal(await pub(m, "bob", "bob pw"), 0, m.log());
    assert.notEqual(await pub(m, "alice", "bob pw"), 0);
    assert.notEqual(await pub(m, "carol", "alice pw"), 0);
    assert.notEqual(await pub(m, undefined), 0);
    assert.equal(await mqttjs(m, 5, "alice", "alice pw"), 0);
    // Mosquitto 2.0 answers a wrong password with "not authorized" (3.1.1: 5, 5.0: 0x87),
    // where Starling sends "bad user name or password" (4, 0x86) as the spec names it.
    assert.notEqual(await mqttjs(m, 5, "alice", "wrong"), 0);
    assert.notEqual(await mqttjs(m, 4, "bob", "wrong"), 0);
  });

  it("a file made by mosquitto_passwd, edited by starling passwd (-b, -D), still works in Mosquitto", async () => {
    const path = fresh();
    await programs.run("mosquitto_passwd", ["-c", "-b", path, "alice", "from mosquitto"]);
    await programs.run("mosquitto_passwd", ["-H", "sha512", "-b", path, "old", "legacy"]);
    await programs.run("mosquitto_passwd", ["-b", path, "gone", "soon"]);
    assert.equal((await passwd(["-b", path, "bob", "from starling"])).code, 0);
    assert.equal((await passwd(["-D", path, "gone"])).code, 0);
    const m = await mosquittoWith(path);
    assert.equal(await pub(m, "alice", "from mosquitto"), 0, m.log());
    assert.equal(await pub(m, "old", "legacy"), 0, m.log());
    assert.equal(await pub(m, "bob", "from starling"), 0, m.log());
    assert.notEqual(await pub(m, "gone", "soon"), 0);
    assert.notEqual(await pub(m, "bob", "from mosquitto"), 0);
  });
});
