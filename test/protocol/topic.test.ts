import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ErrorCode, ProtocolError } from "../../src/protocol/errors.js";
import { ReasonCode } from "../../src/protocol/reason-codes.js";
import {
  isValidTopicFilter,
  isValidTopicName,
  MAX_TOPIC_BYTES,
  matchTopic,
  parseSharedSubscription,
  validateTopicFilter,
  validateTopicName,
} from "../../src/protocol/topic.js";

/** Asserts `fn` throws a ProtocolError with this code, reason code and statement. */
function assertProtocolError(
  fn: () => unknown,
  code: ErrorCode,
  reasonCode: number,
  statement: string,
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.reasonCode, reasonCode);
    assert.equal(error.statement, statement);
    assert.ok(error.message.includes(`[${statement}]`));
    return true;
  });
}

function invalidName(topic: string, statement: string): void {
  assert.equal(isValidTopicName(topic), false, JSON.stringify(topic));
  assertProtocolError(
    () => validateTopicName(topic),
    ErrorCode.TopicNameInvalid,
    ReasonCode.TopicNameInvalid,
    statement,
  );
}

function validName(topic: string): void {
  assert.equal(isValidTopicName(topic), true, JSON.stringify(topic));
  validateTopicName(topic);
}

function invalidFilter(filter: string, statement: string): void {
  assert.equal(isValidTopicFilter(filter), false, JSON.stringify(filter));
  assertProtocolError(
    () => validateTopicFilter(filter),
    ErrorCode.TopicFilterInvalid,
    ReasonCode.TopicFilterInvalid,
    statement,
  );
}

function validFilter(filter: string): void {
  assert.equal(isValidTopicFilter(filter), true, JSON.stringify(filter));
  validateTopicFilter(filter);
}

function invalidShared(filter: string, statement: string): void {
  assertProtocolError(
    () => parseSharedSubscription(filter),
    ErrorCode.TopicFilterInvalid,
    ReasonCode.TopicFilterInvalid,
    statement,
  );
}

/** An independent, split-based matcher to check `matchTopic` against. */
function naiveMatch(filter: string, topic: string): boolean {
  if ((filter.startsWith("+") || filter.startsWith("#")) && topic.startsWith("$")) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function matches(filter: string, topic: string): void {
  assert.equal(matchTopic(filter, topic), true, `${filter} should match ${topic}`);
  assert.equal(naiveMatch(filter, topic), true, `(naive) ${filter} should match ${topic}`);
}

function doesNotMatch(filter: string, topic: string): void {
  assert.equal(matchTopic(filter, topic), false, `${filter} should not match ${topic}`);
  assert.equal(naiveMatch(filter, topic), false, `(naive) ${filter} should not match ${topic}`);
}

describe("Topic Names (§4.7)", () => {
  it("accepts ordinary names, spaces, '$' and any number of '/' (§4.7.3)", () => {
    for (const topic of [
      "sport/tennis/player1",
      "ACCOUNTS",
      "Accounts payable",
      "/finance",
      "finance/",
      "/",
      "//",
      "a//b",
      "$SYS/monitor/Clients",
      "$share/group/topic",
      "ünïcödé/🎾",
    ]) {
      validName(topic);
    }
  });

  it("[MQTT-4.7.3-1] a Topic Name must be at least one character long", () => {
    invalidName("", "MQTT-4.7.3-1");
  });

  it("[MQTT-4.7.0-1] wildcards must not be used within a Topic Name (3.1.1: MQTT-4.7.1-1, MQTT-3.3.2-2)", () => {
    for (const topic of ["+", "#", "sport/+", "sport/#", "sport/tennis#", "a+b", "+/x", "x/#/y"]) {
      invalidName(topic, "MQTT-4.7.0-1");
    }
  });

  it("[MQTT-4.7.3-2] a Topic Name must not include U+0000", () => {
    for (const topic of ["\u0000", "a\u0000b", "sport/\u0000"]) invalidName(topic, "MQTT-4.7.3-2");
  });

  it("[MQTT-4.7.3-3] a Topic Name must not encode to more than 65,535 bytes", () => {
    validName("a".repeat(MAX_TOPIC_BYTES));
    invalidName("a".repeat(MAX_TOPIC_BYTES + 1), "MQTT-4.7.3-3");
    // Counted in UTF-8 bytes, not code units: 'é' is 2 bytes, '€' 3, '🎾' 4 (2 code units).
    validName("é".repeat(32767)); // 65,534 bytes
    invalidName("é".repeat(32768), "MQTT-4.7.3-3"); // 65,536 bytes
    validName("€".repeat(21845)); // 65,535 bytes
    invalidName("€".repeat(21846), "MQTT-4.7.3-3"); // 65,538 bytes
    validName(`${"🎾".repeat(16383)}abc`); // 65,535 bytes
    invalidName(`${"🎾".repeat(16383)}abcd`, "MQTT-4.7.3-3"); // 65,536 bytes
  });

  it("error messages quote at most a preview of a long topic", () => {
    assert.throws(
      () => validateTopicName(`${"x".repeat(1000)}+`),
      (error: Error) => error.message.length < 200,
    );
  });
});

describe("Topic Filters (§4.7.1)", () => {
  it("accepts the valid filters of §4.7.1.2 and §4.7.1.3", () => {
    for (const filter of [
      "sport/tennis/player1/#",
      "sport/#",
      "#",
      "sport/tennis/#",
      "+",
      "+/tennis/#",
      "sport/+/player1",
      "+/+",
      "/+",
      "/finance",
      "$SYS/#",
      "+/monitor/Clients",
      "$SYS/monitor/+",
    ]) {
      validFilter(filter);
    }
  });

  it("accepts empty levels and '+' at the first and last levels", () => {
    for (const filter of ["/", "//", "a//b", "/#", "+/", "/+/", "+/+/+", "//#", "a/+/#"]) {
      validFilter(filter);
    }
  });

  it("[MQTT-4.7.3-1] a Topic Filter must be at least one character long", () => {
    invalidFilter("", "MQTT-4.7.3-1");
  });

  it("[MQTT-4.7.1-1] '#' must be on its own or after '/', and the last character (3.1.1: MQTT-4.7.1-2)", () => {
    // §4.7.1.2: "sport/tennis#" is not valid; "sport/tennis/#/ranking" is not valid.
    for (const filter of [
      "sport/tennis#",
      "sport/tennis/#/ranking",
      "#/",
      "##",
      "#a",
      "a#",
      "a/#b",
      "a/b#/c",
      "#/#",
      "+#",
      "a/+#",
    ]) {
      invalidFilter(filter, filter.includes("+#") ? "MQTT-4.7.1-2" : "MQTT-4.7.1-1");
    }
  });

  it("[MQTT-4.7.1-2] '+' must occupy an entire level (3.1.1: MQTT-4.7.1-3)", () => {
    // §4.7.1.3: "sport+" is not valid.
    for (const filter of [
      "sport+",
      "+sport",
      "sport/+tennis",
      "sport/ten+nis",
      "++",
      "a/++/b",
      "+a/b",
    ]) {
      invalidFilter(filter, "MQTT-4.7.1-2");
    }
  });

  it("[MQTT-4.7.3-2] a Topic Filter must not include U+0000", () => {
    for (const filter of ["\u0000", "a/\u0000/#", "+/\u0000"])
      invalidFilter(filter, "MQTT-4.7.3-2");
  });

  it("[MQTT-4.7.3-3] a Topic Filter must not encode to more than 65,535 bytes", () => {
    validFilter(`${"a/".repeat(32766)}+/#`); // 65,535 bytes
    invalidFilter(`${"a/".repeat(32767)}+/#`, "MQTT-4.7.3-3"); // 65,537 bytes
    validFilter(`${"é/".repeat(21844)}+/#`); // 65,535 bytes in 43,691 code units
    invalidFilter(`${"é/".repeat(21844)}é/#`, "MQTT-4.7.3-3"); // 65,536 bytes
  });
});

describe("matching (§4.7.1, §4.7.2)", () => {
  it("§4.7.1.2 'sport/tennis/player1/#' matches the player's topics", () => {
    matches("sport/tennis/player1/#", "sport/tennis/player1");
    matches("sport/tennis/player1/#", "sport/tennis/player1/ranking");
    matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon");
    matches("sport/tennis/player1/#", "sport/tennis/player1/");
    doesNotMatch("sport/tennis/player1/#", "sport/tennis/player2");
    doesNotMatch("sport/tennis/player1/#", "sport/tennis");
  });

  it("§4.7.1.2 'sport/#' also matches the singular 'sport' (the parent level)", () => {
    matches("sport/#", "sport");
    matches("sport/#", "sport/");
    matches("sport/#", "sport/tennis/player1");
    doesNotMatch("sport/#", "sports");
    doesNotMatch("sport/#", "/sport");
  });

  it("§4.7.1.2 '#' receives every Application Message", () => {
    for (const topic of ["sport", "sport/tennis/player1", "/", "/finance", "a//b"]) {
      matches("#", topic);
    }
  });

  it("§4.7.1.3 'sport/tennis/+' matches one level only", () => {
    matches("sport/tennis/+", "sport/tennis/player1");
    matches("sport/tennis/+", "sport/tennis/player2");
    doesNotMatch("sport/tennis/+", "sport/tennis/player1/ranking");
  });

  it("§4.7.1.3 'sport/+' does not match 'sport' but does match 'sport/'", () => {
    doesNotMatch("sport/+", "sport");
    matches("sport/+", "sport/");
  });

  it("§4.7.1.3 'sport/+/player1' matches any second level", () => {
    matches("sport/+/player1", "sport/tennis/player1");
    matches("sport/+/player1", "sport//player1");
    doesNotMatch("sport/+/player1", "sport/tennis/player2");
  });

  it("§4.7.1.3 '/finance' matches '+/+' and '/+', but not '+'", () => {
    matches("+/+", "/finance");
    matches("/+", "/finance");
    doesNotMatch("+", "/finance");
  });

  it("§4.7.1.3 '+/tennis/#' mixes both wildcards", () => {
    matches("+/tennis/#", "sport/tennis");
    matches("+/tennis/#", "sport/tennis/player1/ranking");
    doesNotMatch("+/tennis/#", "sport/golf/player1");
  });

  it("§4.7.1.1 adjacent separators make a zero-length level", () => {
    matches("a//b", "a//b");
    matches("a/+/b", "a//b");
    doesNotMatch("a/b", "a//b");
    doesNotMatch("a//b", "a/b");
    matches("+", "");
    matches("/", "/");
    matches("+/+", "/");
    doesNotMatch("+", "/");
  });

  it("§4.7.3 a leading or trailing '/' makes a distinct topic; matching is case sensitive", () => {
    doesNotMatch("finance", "/finance");
    doesNotMatch("/finance", "finance");
    doesNotMatch("finance", "finance/");
    doesNotMatch("ACCOUNTS", "Accounts");
    matches("Accounts payable", "Accounts payable");
  });

  it("[MQTT-4.7.2-1] '#' does not match topics beginning with '$'", () => {
    doesNotMatch("#", "$SYS/monitor/Clients");
    doesNotMatch("#", "$SYS");
    doesNotMatch("#", "$");
  });

  it("[MQTT-4.7.2-1] '+/monitor/Clients' does not match '$SYS/monitor/Clients'", () => {
    doesNotMatch("+/monitor/Clients", "$SYS/monitor/Clients");
    doesNotMatch("+/#", "$SYS/monitor/Clients");
    doesNotMatch("+", "$SYS");
    matches("+/monitor/Clients", "SYS/monitor/Clients");
  });

  it("[MQTT-4.7.2-1] '$SYS/#' receives messages published to topics beginning with '$SYS/'", () => {
    matches("$SYS/#", "$SYS/monitor/Clients");
    matches("$SYS/#", "$SYS");
    doesNotMatch("$SYS/#", "SYS/monitor/Clients");
  });

  it("[MQTT-4.7.2-1] '$SYS/monitor/+' receives messages published to '$SYS/monitor/Clients'", () => {
    matches("$SYS/monitor/+", "$SYS/monitor/Clients");
    doesNotMatch("$SYS/monitor/+", "$SYS/monitor/Clients/count");
  });

  it("[MQTT-4.7.2-1] a '$' later in the topic is an ordinary character", () => {
    matches("+/$x", "a/$x");
    matches("a/+", "a/$x");
    matches("a/#", "a/$x");
    matches("#", "a$");
  });

  it("[MQTT-4.7.3-4] matching performs no normalization", () => {
    // "é" precomposed (U+00E9) and decomposed (U+0065 U+0301) are different topics.
    doesNotMatch("caf\u00e9", "cafe\u0301");
    doesNotMatch("a/b", "a/b ");
    doesNotMatch("A/+", "a/b");
  });

  it("agrees with a split-based matcher on random filters and topics", () => {
    const level = fc.constantFrom("a", "b", "", "$", "$a", "ab");
    const topic = fc
      .array(level, { minLength: 1, maxLength: 5 })
      .map((levels) => levels.join("/"))
      .filter((t) => t.length > 0);
    const filterLevel = fc.constantFrom("a", "b", "", "$a", "+");
    const filter = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
      .filter((f) => f.length > 0);
    const oneHash = fc.constant("#");
    fc.assert(
      fc.property(fc.oneof(filter, oneHash), topic, (f, t) => {
        assert.ok(isValidTopicFilter(f), f);
        assert.equal(matchTopic(f, t), naiveMatch(f, t), `${f} vs ${t}`);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("Shared Subscriptions (§4.8.2)", () => {
  it("§4.8.2 '$share/consumer1/sport/tennis/+' and '$share/consumer2/sport/tennis/+' are distinct groups on 'sport/tennis/+'", () => {
    const one = parseSharedSubscription("$share/consumer1/sport/tennis/+");
    const two = parseSharedSubscription("$share/consumer2/sport/tennis/+");
    assert.deepEqual(one, { group: "consumer1", filter: "sport/tennis/+" });
    assert.deepEqual(two, { group: "consumer2", filter: "sport/tennis/+" });
    // Both match the same topics as a non-shared subscription to sport/tennis/+.
    assert.ok(one && matchTopic(one.filter, "sport/tennis/player1"));
  });

  it("§4.8.2 '$share/consumer1//finance' matches the same topics as '/finance'", () => {
    const shared = parseSharedSubscription("$share/consumer1//finance");
    assert.deepEqual(shared, { group: "consumer1", filter: "/finance" });
    assert.ok(shared && matchTopic(shared.filter, "/finance"));
    assert.ok(shared && !matchTopic(shared.filter, "finance"));
  });

  it("§4.8.2 the same ShareName on different filters gives distinct subscriptions", () => {
    assert.deepEqual(parseSharedSubscription("$share/consumer1/sport/tennis/+"), {
      group: "consumer1",
      filter: "sport/tennis/+",
    });
    assert.deepEqual(parseSharedSubscription("$share/consumer1//finance"), {
      group: "consumer1",
      filter: "/finance",
    });
  });

  it("the ShareName ends at the first '/'; the inner filter may use wildcards", () => {
    assert.deepEqual(parseSharedSubscription("$share/g/#"), { group: "g", filter: "#" });
    assert.deepEqual(parseSharedSubscription("$share/g/+"), { group: "g", filter: "+" });
    assert.deepEqual(parseSharedSubscription("$share/g/a/b/c"), { group: "g", filter: "a/b/c" });
    assert.deepEqual(parseSharedSubscription("$share/g/$share/x"), {
      group: "g",
      filter: "$share/x",
    });
    assert.deepEqual(parseSharedSubscription("$share/g//"), { group: "g", filter: "/" });
    assert.deepEqual(parseSharedSubscription("$share/ü $/x"), { group: "ü $", filter: "x" });
  });

  it("returns undefined for filters that are not Shared Subscriptions", () => {
    for (const filter of [
      "sport/tennis/+",
      "#",
      "$SYS/#",
      "$share",
      "$shared/g/x",
      "share/g/x",
      "$SHARE/g/x",
      "/$share/g/x",
    ]) {
      assert.equal(parseSharedSubscription(filter), undefined, filter);
    }
  });

  it("[MQTT-4.8.2-1] the ShareName must be at least one character long", () => {
    invalidShared("$share//sport", "MQTT-4.8.2-1");
    invalidShared("$share/", "MQTT-4.8.2-1");
    invalidShared("$share//", "MQTT-4.8.2-1");
  });

  it("[MQTT-4.8.2-2] the ShareName must not contain '+' or '#'", () => {
    for (const filter of [
      "$share/+/sport",
      "$share/#/sport",
      "$share/a+/sport",
      "$share/a#b/sport",
      "$share/#",
    ]) {
      invalidShared(filter, "MQTT-4.8.2-2");
    }
  });

  it("[MQTT-4.8.2-2] the ShareName must be followed by '/' and a Topic Filter", () => {
    invalidShared("$share/consumer1", "MQTT-4.8.2-2");
    invalidShared("$share/consumer1/", "MQTT-4.8.2-2");
  });

  it("[MQTT-4.8.2-2] the Topic Filter after the ShareName follows §4.7", () => {
    invalidShared("$share/g/sport/tennis#", "MQTT-4.7.1-1");
    invalidShared("$share/g/sport/#/ranking", "MQTT-4.7.1-1");
    invalidShared("$share/g/sport+", "MQTT-4.7.1-2");
    invalidShared("$share/g/a\u0000", "MQTT-4.7.3-2");
    invalidShared("$share/g\u0000/a", "MQTT-4.7.3-2");
  });

  it("[MQTT-4.7.3-3] the whole Shared Subscription filter must not exceed 65,535 bytes", () => {
    const prefix = "$share/g/";
    assert.deepEqual(
      parseSharedSubscription(prefix + "a".repeat(MAX_TOPIC_BYTES - prefix.length)),
      {
        group: "g",
        filter: "a".repeat(MAX_TOPIC_BYTES - prefix.length),
      },
    );
    invalidShared(prefix + "a".repeat(MAX_TOPIC_BYTES - prefix.length + 1), "MQTT-4.7.3-3");
    invalidShared(prefix + "é".repeat(32764), "MQTT-4.7.3-3");
  });
});
