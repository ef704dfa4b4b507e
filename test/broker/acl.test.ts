/**
 * Authorization by Mosquitto's ACL file format (src/broker/auth/acl-file.ts):
 * parsing and its errors, the decisions themselves, a full matrix of users ×
 * ACL entries × actions (publish, subscribe, receive) against the real broker
 * over TCP for 3.1.1 and 5.0, retained messages and wills, and the same
 * matrix against a real Mosquitto broker given the same file.
 *
 * Spec statements: a refused PUBLISH is acknowledged as usual in 3.1.1
 * ([MQTT-3.3.5-2] of 3.1.1) and answered 0x87 in 5.0 (§3.4.2.1, §3.5.2.1);
 * a refused subscription gets its own failure code in SUBACK, in request
 * order ([MQTT-3.9.3-1]; 0x80 in 3.1.1, 0x87 in 5.0, §3.9.3).
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import mqtt from "mqtt";
import { AclFile, AclFileError } from "../../src/broker/auth/acl-file.js";
import { filterCovers, filterIntersection } from "../../src/broker/auth/filter-overlap.js";
import type { Authenticator, Broker } from "../../src/broker/index.js";
import type { ProtocolVersion, PublishPacket } from "../../src/protocol/index.js";
import { sleep, startBroker, tcpPort } from "../helpers/broker.js";
import { type Mosquitto, requireMosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { Programs, requireProgram, waitFor } from "../helpers/programs.js";
import { RawClient, text } from "../helpers/raw-client.js";

const v = (version: ProtocolVersion) => (version === 5 ? "5.0" : "3.1.1");

// ---- the ACL under test ------------------------------------------------------

/**
 * One section per kind of client, the same four kinds of `topic` line in
 * each, patterns for every client, and `admin` who may do anything (the
 * watcher). `fence/%c` lets each client mark the end of a batch.
 */
const ACL = `# Starling ACL matrix (test/broker/acl.test.ts)
# Clients without a user name
topic read anon/r
topic write anon/w
topic readwrite anon/rw/#
topic deny anon/rw/no

user alice
topic read alice/r
topic write alice/w
# no access word: readwrite
topic alice/rw/#
topic deny alice/rw/no

user bob
topic read bob/r
topic write bob/w
topic readwrite bob/rw/#
topic deny bob/rw/no
topic read alice/r

user admin
topic readwrite #

# Every client, wherever these lines stand
pattern readwrite home/%u/#
pattern deny home/%u/private/#
pattern read dev/%c/in
pattern write dev/%c/out
pattern readwrite fence/%c
`;

interface User {
  name: string;
  username: string | undefined;
  clientId: string;
}

const ANON: User = { name: "anonymous", username: undefined, clientId: "c-anon" };
const ALICE: User = { name: "alice", username: "alice", clientId: "c-alice" };
const BOB: User = { name: "bob", username: "bob", clientId: "c-bob" };
const ADMIN: User = { name: "admin", username: "admin", clientId: "c-admin" };
const USERS = [ANON, ALICE, BOB] as const;
const password = (u: User) => `pw-${u.name}`;

/** "r": may receive (and subscribe to) the topic; "w": may publish to it; "-": neither. */
type Rights = "-" | "r" | "w" | "rw";

/**
 * The expected outcome of each ACL entry for each user. Each cell is checked
 * three ways, in 3.1.1 and 5.0: publishing to the topic (does a watcher get
 * it? 5.0: PUBACK 0x00 or 0x87), subscribing to it (SUBACK granted or
 * 0x80/0x87), and receiving it through a `#` subscription.
 */
const MATRIX: readonly [
  topic: string,
  entry: string,
  anonymous: Rights,
  alice: Rights,
  bob: Rights,
][] = [
  ["anon/r", "anonymous: topic read", "r", "-", "-"],
  ["anon/w", "anonymous: topic write", "w", "-", "-"],
  ["anon/rw/x", "anonymous: topic readwrite", "rw", "-", "-"],
  ["anon/rw/no", "anonymous: topic deny (beats readwrite)", "-", "-", "-"],
  ["alice/r", "alice: topic read (and bob's)", "-", "r", "r"],
  ["alice/w", "alice: topic write", "-", "w", "-"],
  ["alice/rw/x", "alice: topic (readwrite by default)", "-", "rw", "-"],
  ["alice/rw/no", "alice: topic deny", "-", "-", "-"],
  ["bob/r", "bob: topic read", "-", "-", "r"],
  ["bob/w", "bob: topic write", "-", "-", "w"],
  ["bob/rw/x", "bob: topic readwrite", "-", "-", "rw"],
  ["bob/rw/no", "bob: topic deny", "-", "-", "-"],
  ["home/alice/x", "pattern readwrite home/%u/#", "-", "rw", "-"],
  ["home/bob/x", "pattern readwrite home/%u/#", "-", "-", "rw"],
  ["home//x", "pattern %u: not for clients without a user name", "-", "-", "-"],
  ["home/alice/private/x", "pattern deny home/%u/private/#", "-", "-", "-"],
  ["dev/c-anon/in", "pattern read dev/%c/in", "r", "-", "-"],
  ["dev/c-anon/out", "pattern write dev/%c/out", "w", "-", "-"],
  ["dev/c-alice/in", "pattern read dev/%c/in", "-", "r", "-"],
  ["dev/c-alice/out", "pattern write dev/%c/out", "-", "w", "-"],
  ["dev/c-bob/in", "pattern read dev/%c/in", "-", "-", "r"],
  ["dev/c-bob/out", "pattern write dev/%c/out", "-", "-", "w"],
];

const TOPICS = MATRIX.map((row) => row[0]);
const rightsOf = (user: User, row: (typeof MATRIX)[number]): Rights =>
  row[2 + USERS.indexOf(user)] as Rights;

/**
 * Wildcard subscriptions, granted (Starling) when the filter overlaps a read
 * grant in a part no deny line covers. Mosquitto grants every subscription
 * and filters each delivery instead; what arrives is the same.
 */
const WILDCARDS: readonly [user: User, filter: string, granted: boolean][] = [
  [ANON, "#", true],
  [ANON, "anon/#", true],
  [ANON, "alice/#", false],
  [ANON, "+/rw/no", false], // its only overlap, anon/rw/no, is denied
  [ANON, "anon/rw/no/#", true], // anon/rw/no/x is readable
  [ANON, "$share/g/anon/#", true],
  [ALICE, "home/+/x", true],
  [ALICE, "home/bob/#", false],
  [ALICE, "home/alice/private/#", false],
  [ALICE, "dev/+/in", true],
  [ALICE, "$SYS/#", false],
  [BOB, "+/r", true],
  [BOB, "$share/g/alice/rw/#", false],
];

// ---- harness -----------------------------------------------------------------

/** Accepts every CONNECT: who may do what is the ACL's business here. */
const acceptAll: Authenticator = { authenticate: () => ({ ok: true }) };

async function aclPath(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "starling-acl-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "acl");
  await writeFile(path, ACL);
  return path;
}

async function aclBroker(t: TestContext): Promise<Broker> {
  const broker = await startBroker({
    authenticator: acceptAll,
    authorizer: await AclFile.load(await aclPath(t)),
  });
  t.after(() => broker.close());
  return broker;
}

const opened = new Set<RawClient>();

async function connect(
  port: number,
  user: User,
  version: ProtocolVersion,
  clientId = user.clientId,
  extra: { will?: { topic: string; payload: Uint8Array; qos: 0; retain: boolean } } = {},
): Promise<RawClient> {
  const c = await RawClient.tcp(port, version);
  opened.add(c);
  const connack = await c.connect({
    protocolVersion: version,
    clientId,
    username: user.username,
    password: user.username === undefined ? undefined : text(password(user)),
    ...extra,
  });
  assert.equal(connack.reasonCode, 0, `CONNACK for ${user.name}`);
  return c;
}

function closeAll(): void {
  for (const c of opened) c.close();
  opened.clear();
}

const publish = (topic: string, qos: 0 | 1 | 2, packetId?: number, retain = false) =>
  ({ type: "publish", topic, payload: text(topic), qos, retain, dup: false, packetId }) as const;

async function subscribe(c: RawClient, filters: string[], qos: 0 | 1 = 0): Promise<number[]> {
  c.send({
    type: "subscribe",
    packetId: 1,
    subscriptions: filters.map((topicFilter) => ({ topicFilter, qos })),
  });
  return (await c.next("suback")).reasonCodes;
}

/** Topics of the PUBLISH packets `c` receives before one on `fence` (bounded). */
async function topicsUntil(c: RawClient, fence: string): Promise<string[]> {
  const topics: string[] = [];
  for (let i = 0; i < 500; i++) {
    const p: PublishPacket = await c.next("publish", 3000);
    if (p.topic === fence) return topics;
    topics.push(p.topic);
  }
  throw new Error(`no PUBLISH on ${fence} among 500`);
}

/** What one user could do, observed on a broker. */
interface Observed {
  /** Topics whose PUBLISH reached the watcher. */
  published: string[];
  /** 5.0 PUBACK reason code per topic (undefined in 3.1.1). */
  puback: (number | undefined)[];
  /** Topics received through `#`. */
  received: string[];
  /** SUBACK code of `#`, of each matrix topic, and of each wildcard filter of this user. */
  subAll: number;
  suback: number[];
  wildcards: number[];
}

/**
 * Runs the matrix for `user` on the broker at `port`. Batches end with a
 * message on the user's own `fence/%c` topic: messages from one client to
 * one subscriber arrive in order, so whatever was not delivered before the
 * fence was not delivered at all — no "nothing within N ms" guesses.
 */
async function observe(port: number, user: User, version: ProtocolVersion): Promise<Observed> {
  const fence = `fence/${user.clientId}`;
  const watcher = await connect(port, ADMIN, 5, `watch-${user.clientId}-${version}`);
  assert.deepEqual(await subscribe(watcher, ["#"]), [0]);

  // Publish: each topic at QoS 1, then the fence; the watcher sees what got through.
  const pub = await connect(port, user, version);
  const puback: (number | undefined)[] = [];
  for (const [i, topic] of TOPICS.entries()) {
    pub.send(publish(topic, 1, i + 1));
    const ack = await pub.next("puback");
    assert.equal(ack.packetId, i + 1);
    puback.push(ack.reasonCode);
  }
  pub.send(publish(fence, 1, 999));
  await pub.next("puback");
  const published = await topicsUntil(watcher, fence);
  pub.close();

  // Receive: the user subscribes to #, the admin publishes every topic, then the fence.
  const sub = await connect(port, user, version);
  const [subAll] = await subscribe(sub, ["#"]);
  for (const topic of TOPICS) watcher.send(publish(topic, 0));
  watcher.send(publish(fence, 0));
  const received = await topicsUntil(sub, fence);

  // Subscribe: every topic as a filter, then this user's wildcard filters.
  const suback = await subscribe(sub, [...TOPICS], 1);
  const mine = WILDCARDS.filter(([u]) => u === user).map(([, f]) => f);
  const wildcards = await subscribe(sub, mine, 1);
  sub.close();
  watcher.close();
  return { published, puback, received, subAll, suback, wildcards };
}

/** What Starling must answer for `user` in `version`. */
function expected(user: User, version: ProtocolVersion): Observed {
  const granted: number = 1;
  const refused: number = version === 5 ? 0x87 : 0x80;
  const can = (r: string) => TOPICS.filter((_, i) => rightsOf(user, MATRIX[i]).includes(r));
  return {
    published: can("w"),
    puback: MATRIX.map((row) =>
      version === 5 ? (rightsOf(user, row).includes("w") ? 0x00 : 0x87) : undefined,
    ),
    received: can("r"),
    subAll: 0,
    suback: MATRIX.map((row) => (rightsOf(user, row).includes("r") ? granted : refused)),
    wildcards: WILDCARDS.filter(([u]) => u === user).map(([, , ok]) => (ok ? granted : refused)),
  };
}

/** Rows where `got` differs from `want`, named, for a readable failure. */
function describeDiff(user: User, got: Observed, want: Observed): string {
  const lines: string[] = [];
  for (const [i, row] of MATRIX.entries()) {
    const topic = row[0];
    const g = {
      pub: got.published.includes(topic),
      recv: got.received.includes(topic),
      suback: got.suback[i],
      puback: got.puback[i],
    };
    const w = {
      pub: want.published.includes(topic),
      recv: want.received.includes(topic),
      suback: want.suback[i],
      puback: want.puback[i],
    };
    if (JSON.stringify(g) !== JSON.stringify(w))
      lines.push(
        `${user.name} × ${topic} (${row[1]}): got ${JSON.stringify(g)}, want ${JSON.stringify(w)}`,
      );
  }
  return lines.join("\n");
}

// ---- parsing -----------------------------------------------------------------

describe("ACL file: parsing", () => {
  it("comments, blank lines, CRLF, leading blanks and a default access of readwrite", () => {
    const acl = AclFile.parse(
      "# comment\r\n\r\n   # indented comment\r\n  topic a/#\r\nuser u\r\ntopic   read   b/c  \r\n",
      "x.acl",
    );
    const anon = { clientId: "c", username: undefined };
    const u = { clientId: "c", username: "u" };
    assert.equal(acl.canPublish(anon, "a/x"), true);
    assert.equal(acl.canRead(anon, "a/x"), true);
    assert.equal(acl.canRead(u, "a/x"), false, "the anonymous section is not u's");
    assert.equal(acl.canRead(u, "b/c"), true);
    assert.equal(acl.canPublish(u, "b/c"), false);
  });

  it("an explicit access lets the topic contain spaces; user names may too", () => {
    const acl = AclFile.parse("user john smith\ntopic write a b/c d\n");
    const john = { clientId: "j", username: "john smith" };
    assert.equal(acl.canPublish(john, "a b/c d"), true);
    assert.equal(acl.canRead(john, "a b/c d"), false);
  });

  it("an empty file denies everything", () => {
    const acl = AclFile.parse("");
    assert.equal(acl.canPublish({ clientId: "c", username: undefined }, "a"), false);
    assert.equal(acl.canSubscribe({ clientId: "c", username: "u" }, "#"), false);
  });

  const errors: [name: string, text: string, line: number, message: RegExp][] = [
    [
      "an unknown keyword",
      "topic a\n\nallow a/b\n",
      3,
      /expected "topic", "pattern" or "user".*"allow"/,
    ],
    [
      "topic without a topic",
      "# c\ntopic\n",
      2,
      /expected "topic \[read\|write\|readwrite\|deny\] TOPIC", found no topic/,
    ],
    ["an access without a topic", "pattern deny   \n", 1, /found no topic after "deny"/],
    ["a misspelt access", "topic raed a/b\n", 1, /"raed" is not an access/],
    ["an invalid filter", "user u\ntopic read a/#/b\n", 2, /"a\/#\/b" is not a valid topic filter/],
    ["a wildcard inside a level", "topic read a/b+\n", 1, /not a valid topic filter/],
    ["%u inside a level", "pattern read a/x%u\n", 1, /must be a whole topic level.*"x%u"/],
    ["%c in a topic line", "topic read dev/%c\n", 1, /replaced only in "pattern" lines/],
    ["user without a name", "user\n", 1, /expected a user name after "user"/],
  ];
  for (const [name, aclText, line, message] of errors) {
    it(`refuses ${name}, naming file:line`, () => {
      assert.throws(
        () => AclFile.parse(aclText, "/etc/starling/acl"),
        (err: unknown) => {
          assert.ok(err instanceof AclFileError);
          assert.equal(err.file, "/etc/starling/acl");
          assert.equal(err.line, line);
          assert.ok(err.message.startsWith(`/etc/starling/acl:${line}: `), err.message);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it("load() reads a file; a missing one is an AclFileError naming it", async (t) => {
    const path = await aclPath(t);
    const acl = await AclFile.load(path);
    assert.equal(acl.path, path);
    assert.equal(acl.canPublish({ clientId: "c-anon", username: undefined }, "anon/w"), true);
    await assert.rejects(AclFile.load(`${path}.missing`), (err: unknown) => {
      assert.ok(err instanceof AclFileError);
      assert.match(err.message, /acl\.missing: cannot read the ACL file: no such file/);
      return true;
    });
  });
});

// ---- decisions -----------------------------------------------------------------

describe("ACL file: decisions", () => {
  const alice = { clientId: "c-alice", username: "alice" };
  const anon = { clientId: "c-anon", username: undefined };

  it("deny lines win over grants wherever they stand (section or pattern)", () => {
    const acl = AclFile.parse(
      "user alice\ntopic readwrite a/#\ntopic deny b/secret\npattern readwrite b/#\npattern deny a/%u/#\n",
    );
    assert.equal(acl.canPublish(alice, "a/x"), true);
    assert.equal(acl.canPublish(alice, "a/alice/x"), false, "pattern deny over section grant");
    assert.equal(acl.canRead(alice, "b/secret"), false, "section deny over pattern grant");
    assert.equal(acl.canRead(alice, "b/open"), true);
  });

  it("wildcard entries do not reach topics starting with $ [MQTT-4.7.2-1]", () => {
    const acl = AclFile.parse("topic readwrite #\ntopic read +/x\ntopic read $SYS/broker/#\n");
    assert.equal(acl.canRead(anon, "a/b"), true);
    assert.equal(acl.canRead(anon, "$SYS/uptime"), false);
    assert.equal(acl.canRead(anon, "$x/x"), false);
    assert.equal(acl.canRead(anon, "$SYS/broker/uptime"), true);
    assert.equal(acl.canSubscribe(anon, "$SYS/#"), true, "overlaps $SYS/broker/#");
    assert.equal(acl.canSubscribe(anon, "$x/#"), false);
  });

  it("%c and %u fill whole levels; values that are not one plain level never match", () => {
    const acl = AclFile.parse("pattern readwrite c/%c/#\npattern read u/%u\n");
    const odd = (clientId: string, username?: string) => ({ clientId, username });
    assert.equal(acl.canPublish(odd("dev1"), "c/dev1/x"), true);
    assert.equal(acl.canPublish(odd("dev1"), "c/dev2/x"), false);
    // A client id with "/" would otherwise reach another client's subtree (c/victim/…).
    assert.equal(acl.canPublish(odd("victim/x"), "c/victim/x/y"), false);
    assert.equal(acl.canSubscribe(odd("+"), "c/+/#"), false, "a client id of + is no wildcard");
    assert.equal(acl.canSubscribe(odd("#"), "c/#"), false);
    assert.equal(acl.canRead(odd("c", "bo/b"), "u/bo/b"), false);
    assert.equal(acl.canRead(odd("c", "bob"), "u/bob"), true);
    assert.equal(acl.canRead(odd("c"), "u/"), false, "%u: not for anonymous clients");
  });

  it("decides by the identity's current values (a session's user name changes on reconnect)", () => {
    const acl = AclFile.parse("pattern read home/%u/#\npattern read dev/%c\n");
    const session: { clientId: string; username: string | undefined } = {
      clientId: "d1",
      username: "alice",
    };
    assert.equal(acl.canRead(session, "home/alice/x"), true);
    assert.equal(acl.canRead(session, "dev/d1"), true);
    session.username = "bob";
    assert.equal(acl.canRead(session, "home/alice/x"), false);
    assert.equal(acl.canRead(session, "home/bob/x"), true);
    session.username = undefined;
    assert.equal(acl.canRead(session, "home/bob/x"), false);
    assert.equal(acl.canRead(session, "dev/d1"), true);
  });

  it("a deny pattern a client's id cannot fill safely denies everything (fails closed)", () => {
    const acl = AclFile.parse("topic readwrite #\npattern deny c/%c/#\n");
    assert.equal(acl.canPublish(anon, "a"), true);
    assert.equal(acl.canPublish({ clientId: "x/y", username: undefined }, "a"), false);
  });

  // Filter, expected answer, why; for a client reading a/# and b/+/c, minus a/secret/#.
  const subs: [filter: string, granted: boolean, why: string][] = [
    ["a/x", true, "a topic the client may read"],
    ["a/#", true, "the grant itself"],
    ["#", true, "overlaps both grants"],
    ["+/+/c", true, "overlaps b/+/c"],
    ["a/secret/#", false, "the overlap is wholly denied"],
    ["a/secret", false, "denied"],
    ["+/secret/x", false, "overlaps a/# only in a/secret/x, denied"],
    ["a/+/x", true, "a/other/x is readable"],
    ["b/x/d", false, "no overlap"],
    ["c/#", false, "no overlap"],
    ["$share/g/a/#", true, "shared: the filter after the share name"],
    ["$share/g/c/#", false, "shared, no overlap"],
    ["$share/g", false, "not a valid shared subscription"],
  ];
  for (const [filter, granted, why] of subs) {
    it(`canSubscribe ${filter} → ${granted} (${why})`, () => {
      const acl = AclFile.parse(
        "user alice\ntopic read a/#\ntopic read b/+/c\ntopic deny a/secret/#\n",
      );
      assert.equal(acl.canSubscribe(alice, filter), granted);
    });
  }

  const split = (f: string) => f.split("/");
  const meet: [a: string, b: string, result: string | undefined][] = [
    ["#", "a/+", "a/+"],
    ["a/#", "a", "a"],
    ["a/+", "+/b", "a/b"],
    ["a/+", "a", undefined],
    ["a/b/#", "a/+/c", "a/b/c"],
    ["+/#", "$SYS/x", undefined],
    ["#", "#", "#"],
    ["a/b", "a/c", undefined],
  ];
  for (const [a, b, result] of meet) {
    it(`filterIntersection(${a}, ${b}) = ${result}`, () => {
      assert.equal(filterIntersection(split(a), split(b))?.join("/"), result);
      assert.equal(filterIntersection(split(b), split(a))?.join("/"), result);
    });
  }
  const cover: [outer: string, inner: string, result: boolean][] = [
    ["a/#", "a/+/b", true],
    ["a/#", "a", true],
    ["a/+", "a/#", false],
    ["a", "a/#", false],
    ["+/b", "a/b", true],
    ["+/b", "$a/b", false],
    ["#", "+/x", true],
    ["a/b", "a/+", false],
  ];
  for (const [outer, inner, result] of cover) {
    it(`filterCovers(${outer}, ${inner}) = ${result}`, () => {
      assert.equal(filterCovers(split(outer), split(inner)), result);
    });
  }
});

// ---- the matrix on Starling --------------------------------------------------

describe("ACL matrix on the Starling broker (users × entries × publish/subscribe/receive)", () => {
  let broker: Broker;
  let port: number;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "starling-acl-"));
    const path = join(dir, "acl");
    await writeFile(path, ACL);
    broker = await startBroker({ authenticator: acceptAll, authorizer: await AclFile.load(path) });
    port = tcpPort(broker);
  });
  after(async () => {
    closeAll();
    await broker?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const version of [4, 5] as const) {
    for (const user of USERS) {
      it(`[MQTT-3.9.3-1] ${user.name}, ${v(version)}: every row of the matrix`, async () => {
        const got = await observe(port, user, version);
        const want = expected(user, version);
        assert.equal(describeDiff(user, got, want), "");
        assert.deepEqual(got, want);
      });
    }
  }

  it("refusals are counted: publishDenied for PUBLISH, dropped.not_authorized for deliveries", () => {
    // Each user-version run above published every row; the ones without "w" were refused.
    const refusedPublishes = USERS.reduce(
      (n, u) => n + MATRIX.filter((row) => !rightsOf(u, row).includes("w")).length,
      0,
    );
    assert.equal(broker.core.stats.publishDenied, 2 * refusedPublishes);
    assert.ok(broker.core.stats.dropped.not_authorized > 0);
  });
});

// ---- publish refusals per version, retained messages, wills, shared subscriptions ----

describe("ACL: refused PUBLISH per version", () => {
  it("[MQTT-3.3.5-2] (3.1.1) QoS 1 gets a plain PUBACK, QoS 2 a PUBREC and PUBCOMP; nothing is delivered and the connection stays", async (t) => {
    const broker = await aclBroker(t);
    const port = tcpPort(broker);
    t.after(closeAll);
    const watcher = await connect(port, ADMIN, 5, "w311");
    await subscribe(watcher, ["#"]);
    const c = await connect(port, ANON, 4);
    c.send(publish("alice/w", 1, 5));
    assert.deepEqual(await c.next("puback"), { type: "puback", packetId: 5 });
    c.send(publish("alice/w", 2, 6));
    assert.deepEqual(await c.next("pubrec"), { type: "pubrec", packetId: 6 });
    c.send({ type: "pubrel", packetId: 6 });
    assert.deepEqual(await c.next("pubcomp"), { type: "pubcomp", packetId: 6 });
    c.send(publish("alice/w", 0));
    c.send(publish("fence/c-anon", 1, 7));
    await c.next("puback");
    assert.deepEqual(await topicsUntil(watcher, "fence/c-anon"), []);
    assert.equal(c.isClosed, false);
    assert.equal(broker.core.stats.publishDenied, 3);
  });

  it("§3.4.2.1 §3.5.2.1 (5.0) PUBACK 0x87 and PUBREC 0x87; QoS 0 is dropped; an MQTT.js publish is rejected", async (t) => {
    const broker = await aclBroker(t);
    const port = tcpPort(broker);
    t.after(closeAll);
    const c = await connect(port, ANON, 5);
    c.send(publish("alice/w", 1, 5));
    assert.deepEqual(await c.next("puback"), { type: "puback", packetId: 5, reasonCode: 0x87 });
    c.send(publish("alice/w", 2, 6));
    assert.deepEqual(await c.next("pubrec"), { type: "pubrec", packetId: 6, reasonCode: 0x87 });
    c.send(publish("alice/w", 0));
    c.send({ type: "pingreq" });
    await c.next("pingresp");
    assert.equal(c.isClosed, false);

    const js = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 5,
      clientId: "js-alice",
      username: "alice",
      password: password(ALICE),
      reconnectPeriod: 0,
    });
    t.after(() => js.endAsync());
    await assert.rejects(js.publishAsync("bob/w", "no", { qos: 1 }), (err: unknown) => {
      assert.equal((err as { code?: number }).code, 0x87);
      return true;
    });
    await js.publishAsync("alice/w", "yes", { qos: 1 });
  });
});

describe("ACL: retained messages and wills", () => {
  for (const protocolVersion of [4, 5] as const) {
    it(`a retained message reaches only subscribers who may read it (MQTT.js, ${v(protocolVersion)})`, async (t) => {
      const broker = await aclBroker(t);
      const url = `mqtt://127.0.0.1:${tcpPort(broker)}`;
      const join = async (user: User) => {
        const c = await mqtt.connectAsync(url, {
          protocolVersion,
          clientId: user.clientId,
          username: user.username,
          password: user.username === undefined ? undefined : password(user),
          reconnectPeriod: 0,
        });
        t.after(() => c.endAsync());
        return c;
      };
      const admin = await join(ADMIN);
      for (const topic of ["anon/r", "alice/r", "bob/r", "alice/rw/no"])
        await admin.publishAsync(topic, topic, { qos: 1, retain: true });
      for (const [user, readable] of [
        [ANON, ["anon/r"]],
        [ALICE, ["alice/r"]],
        [BOB, ["alice/r", "bob/r"]],
      ] as const) {
        const c = await join(user);
        const got: string[] = [];
        const fence = `fence/${user.clientId}`;
        const done = new Promise<void>((resolve) => {
          c.on("message", (topic) => {
            if (topic === fence) resolve();
            else got.push(topic);
          });
        });
        const granted = await c.subscribeAsync("#", { qos: 0 });
        assert.equal(granted[0]?.qos, 0);
        // The retained messages follow the SUBACK; the fence, routed after, comes behind them.
        await c.publishAsync(fence, "", { qos: 0 });
        await done;
        assert.deepEqual(got.sort(), [...readable], `${user.name} received`);
      }
    });
  }

  it("a will to a topic the client may not write is not published; an allowed one reaches only readers", async (t) => {
    const broker = await aclBroker(t);
    const port = tcpPort(broker);
    t.after(closeAll);
    const watcher = await connect(port, ADMIN, 5, "will-watch");
    await subscribe(watcher, ["#"]);
    const bob = await connect(port, BOB, 5);
    await subscribe(bob, ["#"]);
    const will = (topic: string) => ({
      topic,
      payload: text("gone"),
      qos: 0 as const,
      retain: false,
    });
    const denied = await connect(port, ANON, 4, "c-anon", { will: will("alice/w") });
    const allowed = await connect(port, ALICE, 4, "c-alice", { will: will("home/alice/will") });
    denied.close();
    await waitFor(() => broker.core.stats.publishDenied === 1, "the will refused");
    allowed.close();
    const p = await watcher.next("publish");
    assert.equal(p.topic, "home/alice/will");
    // Bob may not read home/alice/…: his `#` gets nothing before his own fence, and the
    // watcher nothing but that fence after the allowed will.
    bob.send(publish("fence/c-bob", 0));
    assert.deepEqual(await topicsUntil(bob, "fence/c-bob"), []);
    assert.deepEqual(await topicsUntil(watcher, "fence/c-bob"), []);
  });

  it("a shared subscription's message goes to a member who may read it", async (t) => {
    const broker = await aclBroker(t);
    const port = tcpPort(broker);
    t.after(closeAll);
    const alice = await connect(port, ALICE, 5);
    const bob = await connect(port, BOB, 5);
    assert.deepEqual(await subscribe(alice, ["$share/g/#"]), [0]);
    assert.deepEqual(await subscribe(bob, ["$share/g/#"]), [0]);
    const admin = await connect(port, ADMIN, 5);
    for (let i = 0; i < 4; i++) admin.send(publish("home/alice/x", 0));
    for (let i = 0; i < 4; i++) assert.equal((await alice.next("publish")).topic, "home/alice/x");
    assert.equal(await bob.nothing(100, "publish"), true);
  });
});

// ---- differential: the same file on Mosquitto -------------------------------

const skipMosquitto = requireMosquitto() || requireProgram("mosquitto_passwd", "mosquitto");

describe("ACL differential: the same file on a real Mosquitto broker", {
  skip: skipMosquitto,
}, () => {
  let mosquitto: Mosquitto;
  let dir: string;
  const programs = new Programs();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "starling-acl-mosq-"));
    const acl = join(dir, "acl");
    const passwords = join(dir, "passwd");
    await writeFile(acl, ACL);
    let create = true;
    for (const u of [ALICE, BOB, ADMIN]) {
      const args = create ? ["-b", "-c", passwords] : ["-b", passwords];
      await programs.run("mosquitto_passwd", [...args, u.name, password(u)]);
      create = false;
    }
    // Started as root, mosquitto drops to its own user: it must be able to read both files.
    await chmod(dir, 0o755);
    await chmod(acl, 0o644);
    await chmod(passwords, 0o644);
    mosquitto = await startMosquitto([`acl_file ${acl}`, `password_file ${passwords}`]);
  });
  after(async () => {
    closeAll();
    await programs.killAll();
    await mosquitto?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  for (const version of [4, 5] as const) {
    for (const user of USERS) {
      it(`${user.name}, ${v(version)}: the same deliveries and PUBACK codes as Starling; SUBACK differs only where nothing could be delivered`, async () => {
        const got = await observe(mosquitto.port, user, version);
        const want = expected(user, version);
        // Mosquitto 2.0 grants every subscription under acl_file and filters each delivery by
        // read rights; Starling refuses a filter when nothing it matches could be read.
        // Same deliveries either way: each refused filter is a topic this user cannot receive.
        const granted = 1;
        for (const [i, code] of want.suback.entries())
          if (code !== granted) assert.ok(!want.received.includes(TOPICS[i]));
        const mosquittoWant = {
          ...want,
          suback: want.suback.map(() => granted),
          wildcards: want.wildcards.map(() => granted),
        };
        assert.equal(describeDiff(user, got, mosquittoWant), "", mosquitto.log());
        assert.deepEqual(got, mosquittoWant);
      });
    }
  }

  it("wills: refused when not writable, delivered only to readers (as on Starling)", async () => {
    const port = mosquitto.port;
    const watcher = await connect(port, ADMIN, 5, "will-watch");
    await subscribe(watcher, ["#"]);
    const bob = await connect(port, BOB, 5);
    await subscribe(bob, ["#"]);
    const will = (topic: string) => ({
      topic,
      payload: text("gone"),
      qos: 0 as const,
      retain: false,
    });
    const denied = await connect(port, ANON, 4, "c-anon", { will: will("alice/w") });
    const allowed = await connect(port, ALICE, 4, "c-alice", { will: will("home/alice/will") });
    denied.close();
    await sleep(100);
    allowed.close();
    assert.equal((await watcher.next("publish")).topic, "home/alice/will");
    // Bob may not read home/alice/…: his `#` gets nothing before his own fence, and the
    // watcher nothing but that fence after the allowed will.
    bob.send(publish("fence/c-bob", 0));
    assert.deepEqual(await topicsUntil(bob, "fence/c-bob"), []);
    assert.deepEqual(await topicsUntil(watcher, "fence/c-bob"), []);
    closeAll();
  });
});
