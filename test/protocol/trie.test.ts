import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InvalidArgumentError } from "../../src/protocol/errors.js";
import { matchTopic } from "../../src/protocol/topic.js";
import { SubscriptionTrie, type TrieEntry } from "../../src/protocol/trie.js";

/** The matches as sorted "filter value" strings, so order does not matter. */
function pairs<T>(entries: readonly TrieEntry<T>[]): string[] {
  return entries.map((e) => `${e.filter} ${String(e.value)}`).sort();
}

/** Asserts the matches are exactly `expected` "filter value" pairs, in any order. */
function assertPairs<T>(
  entries: readonly TrieEntry<T>[],
  expected: readonly string[],
  message?: string,
): void {
  assert.deepEqual(pairs(entries), [...expected].sort(), message);
}

function values<T>(entries: readonly TrieEntry<T>[]): T[] {
  return entries.map((e) => e.value);
}

/** Runs `body` once with the cache off and once with it on. */
function bothCaches(body: (cacheSize: number) => void): void {
  body(0);
  body(1024);
}

describe("SubscriptionTrie", () => {
  it("matches exact filters and nothing else", () => {
    bothCaches((cacheSize) => {
      const trie = new SubscriptionTrie<string>({ cacheSize });
      trie.add("sport/tennis/player1", "a");
      trie.add("sport/tennis/player2", "b");
      assert.deepEqual(values(trie.match("sport/tennis/player1")), ["a"]);
      assert.deepEqual(values(trie.match("sport/tennis/player2")), ["b"]);
      assert.deepEqual(trie.match("sport/tennis"), []);
      assert.deepEqual(trie.match("sport/tennis/player1/ranking"), []);
      assert.deepEqual(trie.match("sport/tennis/player3"), []);
    });
  });

  it("§4.7.1.2 '#' matches the parent level and every level below", () => {
    bothCaches((cacheSize) => {
      const trie = new SubscriptionTrie<string>({ cacheSize });
      trie.add("sport/tennis/player1/#", "p1");
      trie.add("sport/#", "sport");
      trie.add("#", "all");
      assertPairs(trie.match("sport"), ["# all", "sport/# sport"]);
      assertPairs(trie.match("sport/tennis/player1"), [
        "# all",
        "sport/# sport",
        "sport/tennis/player1/# p1",
      ]);
      assertPairs(trie.match("sport/tennis/player1/score/wimbledon"), [
        "# all",
        "sport/# sport",
        "sport/tennis/player1/# p1",
      ]);
      assertPairs(trie.match("sport/tennis/player1/"), [
        "# all",
        "sport/# sport",
        "sport/tennis/player1/# p1",
      ]);
      assertPairs(trie.match("sports"), ["# all"]);
    });
  });

  it("§4.7.1.3 '+' matches exactly one level, which may be empty", () => {
    bothCaches((cacheSize) => {
      const trie = new SubscriptionTrie<string>({ cacheSize });
      trie.add("sport/tennis/+", "t");
      trie.add("sport/+", "s");
      trie.add("+/+", "pp");
      trie.add("/+", "sp");
      trie.add("+", "p");
      trie.add("sport/+/player1", "x");
      assertPairs(trie.match("sport/tennis/player1"), ["sport/+/player1 x", "sport/tennis/+ t"]);
      assertPairs(trie.match("sport/tennis/player1/ranking"), []);
      assertPairs(trie.match("sport"), ["+ p"]);
      assertPairs(trie.match("sport/"), ["+/+ pp", "sport/+ s"]);
      // "/finance" matches "+/+" and "/+", but not "+".
      assertPairs(trie.match("/finance"), ["+/+ pp", "/+ sp"]);
    });
  });

  it("§4.7.1.1 empty levels are levels: 'a//b', leading and trailing '/'", () => {
    bothCaches((cacheSize) => {
      const trie = new SubscriptionTrie<string>({ cacheSize });
      trie.add("a//b", "ab");
      trie.add("a/+/b", "apb");
      trie.add("/finance", "lead");
      trie.add("finance/", "trail");
      trie.add("/", "slash");
      trie.add("//#", "ssh");
      assertPairs(trie.match("a//b"), ["a//b ab", "a/+/b apb"]);
      assertPairs(trie.match("a/b"), []);
      assertPairs(trie.match("/finance"), ["/finance lead"]);
      assertPairs(trie.match("finance/"), ["finance/ trail"]);
      assertPairs(trie.match("finance"), []);
      assertPairs(trie.match("/"), ["/ slash", "//# ssh"]); // "//#" includes its parent "/"
      assertPairs(trie.match("//"), ["//# ssh"]);
      assertPairs(trie.match("///x"), ["//# ssh"]);
    });
  });

  it("[MQTT-4.7.2-1] filters starting with '+' or '#' do not match topics starting with '$'", () => {
    bothCaches((cacheSize) => {
      const trie = new SubscriptionTrie<string>({ cacheSize });
      trie.add("#", "all");
      trie.add("+/monitor/Clients", "plus");
      trie.add("+/#", "plushash");
      trie.add("$SYS/#", "sys");
      trie.add("$SYS/monitor/+", "monitor");
      assertPairs(trie.match("$SYS/monitor/Clients"), ["$SYS/# sys", "$SYS/monitor/+ monitor"]);
      assertPairs(trie.match("$SYS"), ["$SYS/# sys"]);
      assertPairs(trie.match("SYS/monitor/Clients"), [
        "# all",
        "+/# plushash",
        "+/monitor/Clients plus",
      ]);
      // Only the first character counts.
      assertPairs(trie.match("a/$x"), ["# all", "+/# plushash"]);
    });
  });

  it("reports a value once per matching filter when its filters overlap", () => {
    bothCaches((cacheSize) => {
      const trie = new SubscriptionTrie<string>({ cacheSize });
      trie.add("a/+", "alice");
      trie.add("a/#", "alice");
      trie.add("a/b", "alice");
      trie.add("a/b", "bob");
      assert.equal(trie.size, 4);
      assertPairs(trie.match("a/b"), ["a/# alice", "a/+ alice", "a/b alice", "a/b bob"]);
      assertPairs(trie.match("a/c"), ["a/# alice", "a/+ alice"]);
      assertPairs(trie.match("a"), ["a/# alice"]);
    });
  });

  it("stores the same value under the same filter once", () => {
    const trie = new SubscriptionTrie<object>();
    const sub = { id: 1 };
    trie.add("a/+", sub);
    trie.add("a/+", sub);
    trie.add("a/+", { id: 1 }); // a different object is a different value
    assert.equal(trie.size, 2);
    assert.equal(trie.match("a/x").length, 2);
    assert.ok(trie.remove("a/+", sub));
    assert.equal(trie.match("a/x").length, 1);
    assert.equal(trie.remove("a/+", sub), false);
  });

  it("removes entries, reports whether they existed, and prunes empty nodes", () => {
    const trie = new SubscriptionTrie<string>();
    const filters = ["a/b/c", "a/b/#", "a/+/c", "+/b", "#", "a//", "/", "x/y/z/w"];
    for (const f of filters) trie.add(f, "v");
    assert.equal(trie.size, filters.length);
    assert.ok(trie.nodeCount > 0);
    assert.equal(trie.remove("a/b/c", "other"), false);
    assert.equal(trie.remove("a/b", "v"), false); // a node on the way, not an entry
    assert.equal(trie.remove("a/b/c/d", "v"), false);
    assert.equal(trie.remove("nope/#", "v"), false);
    assert.equal(trie.remove("a/#/c", "v"), false);
    assert.equal(trie.size, filters.length);

    assert.ok(trie.remove("a/b/c", "v"));
    assertPairs(trie.match("a/b/c"), ["# v", "a/+/c v", "a/b/# v"]);
    const before = trie.nodeCount;
    assert.ok(trie.remove("x/y/z/w", "v"));
    assert.equal(trie.nodeCount, before - 4, "the x/y/z/w branch is pruned");

    for (const f of filters) trie.remove(f, "v");
    assert.equal(trie.size, 0);
    assert.equal(trie.nodeCount, 0);
    assert.deepEqual(trie.match("a/b/c"), []);
  });

  it("keeps nodes that still lead to other filters when pruning", () => {
    const trie = new SubscriptionTrie<string>();
    trie.add("a/b", "1");
    trie.add("a/b/c", "2");
    trie.add("a/+/c", "3");
    trie.add("a/#", "4");
    assert.ok(trie.remove("a/b/c", "2"));
    assertPairs(trie.match("a/b"), ["a/# 4", "a/b 1"]);
    assertPairs(trie.match("a/b/c"), ["a/# 4", "a/+/c 3"]);
    assert.ok(trie.remove("a/b", "1"));
    assert.ok(trie.remove("a/#", "4"));
    assertPairs(trie.match("a/b/c"), ["a/+/c 3"]);
    assert.equal(trie.nodeCount, 3); // a, +, c
  });

  it("clear() removes everything", () => {
    const trie = new SubscriptionTrie<string>();
    trie.add("a/#", "1");
    trie.add("b", "2");
    assert.equal(trie.match("a/x").length, 1);
    trie.clear();
    assert.equal(trie.size, 0);
    assert.equal(trie.nodeCount, 0);
    assert.deepEqual(trie.match("a/x"), []);
    trie.add("a/#", "1");
    assert.equal(trie.match("a/x").length, 1);
  });

  it("rejects invalid filters on add and options out of range", () => {
    const trie = new SubscriptionTrie<string>();
    for (const filter of ["", "a/#/b", "a+", "sport/tennis#", "a\u0000"]) {
      assert.throws(() => trie.add(filter, "v"), InvalidArgumentError, filter);
    }
    assert.equal(trie.size, 0);
    assert.throws(() => new SubscriptionTrie({ cacheSize: -1 }), InvalidArgumentError);
    assert.throws(() => new SubscriptionTrie({ cacheSize: 1.5 }), InvalidArgumentError);
    assert.throws(() => new SubscriptionTrie({ cacheMaxTopicLength: -1 }), InvalidArgumentError);
  });

  it("matches a topic deeper than the call stack could recurse", () => {
    const trie = new SubscriptionTrie<string>({ cacheSize: 0 });
    const depth = 30000;
    const plus = Array(depth).fill("+").join("/"); // 30,000 levels
    const hash = `${"/".repeat(depth - 1)}#`; // 29,999 empty levels, then '#'
    trie.add(plus, "deep");
    trie.add(hash, "deephash");
    const topic = "/".repeat(depth - 1); // 30,000 empty levels
    assertPairs(trie.match(topic), [`${plus} deep`, `${hash} deephash`].sort());
  });
});

describe("SubscriptionTrie cache", () => {
  it("returns frozen results from the cache, which callers cannot change", () => {
    const trie = new SubscriptionTrie<string>({ cacheSize: 16 });
    trie.add("a/+", "v");
    const result = trie.match("a/b");
    assert.ok(Object.isFrozen(result));
    assert.throws(() => (result as TrieEntry<string>[]).push(result[0]), TypeError);
    assert.ok(Object.isFrozen(trie.match("nothing")));
    assert.deepEqual(values(trie.match("a/b")), ["v"]);
  });

  it("returns frozen entries, with the cache on or off", () => {
    for (const cacheSize of [0, 16]) {
      const trie = new SubscriptionTrie<string>({ cacheSize });
      trie.add("a/+", "v");
      const [entry] = trie.match("a/b");
      assert.ok(Object.isFrozen(entry));
      assert.throws(() => {
        (entry as { value: string }).value = "changed";
      }, TypeError);
      assert.deepEqual(values(trie.match("a/b")), ["v"]);
    }
  });

  it("keeps recently used topics and drops the least recently used generation", () => {
    const trie = new SubscriptionTrie<number>({ cacheSize: 2 }); // two generations of 2
    trie.add("t/+", 1);
    const one = trie.match("t/1");
    const two = trie.match("t/2");
    trie.match("t/3"); // recent generation full: {t/1, t/2} becomes the older one
    assert.equal(trie.match("t/1"), one, "found in the older generation, and moved up");
    trie.match("t/4"); // {t/3, t/1} becomes the older one; {t/1, t/2} is dropped
    assert.equal(trie.match("t/1"), one, "t/1 survived: it was used recently");
    assert.notEqual(trie.match("t/2"), two, "t/2 was evicted");
  });

  it("serves a repeated topic from the cache", () => {
    const trie = new SubscriptionTrie<string>({ cacheSize: 4 });
    trie.add("a/+", "v");
    const first = trie.match("a/b");
    assert.equal(trie.match("a/b"), first, "same array: served from the cache");
    const uncached = new SubscriptionTrie<string>({ cacheSize: 0 });
    uncached.add("a/+", "v");
    assert.notEqual(uncached.match("a/b"), uncached.match("a/b"));
  });

  it("is invalidated by add: a new filter is matched at once", () => {
    const trie = new SubscriptionTrie<string>();
    assert.deepEqual(trie.match("a/b"), []);
    trie.add("a/b", "exact");
    assert.deepEqual(values(trie.match("a/b")), ["exact"]);
    trie.add("a/+", "plus");
    assertPairs(trie.match("a/b"), ["a/+ plus", "a/b exact"]);
    trie.add("#", "all");
    assertPairs(trie.match("a/b"), ["# all", "a/+ plus", "a/b exact"]);
  });

  it("is invalidated by remove: a removed filter is not matched any more", () => {
    const trie = new SubscriptionTrie<string>();
    trie.add("a/+", "plus");
    trie.add("a/#", "hash");
    assertPairs(trie.match("a/b"), ["a/# hash", "a/+ plus"]);
    assert.ok(trie.remove("a/+", "plus"));
    assertPairs(trie.match("a/b"), ["a/# hash"]);
    assert.ok(trie.remove("a/#", "hash"));
    assert.deepEqual(trie.match("a/b"), []);
  });

  it("is invalidated by clear", () => {
    const trie = new SubscriptionTrie<string>();
    trie.add("a/+", "plus");
    assert.equal(trie.match("a/b").length, 1);
    trie.clear();
    assert.deepEqual(trie.match("a/b"), []);
  });

  it("stays correct when it evicts, and skips topics longer than cacheMaxTopicLength", () => {
    const trie = new SubscriptionTrie<number>({ cacheSize: 2, cacheMaxTopicLength: 8 });
    trie.add("t/+", 1);
    for (let round = 0; round < 3; round++) {
      for (const topic of ["t/1", "t/2", "t/3", "u/1", "t/4"]) {
        assert.equal(trie.match(topic).length, topic.startsWith("t/") ? 1 : 0, topic);
      }
    }
    const long = `t/${"x".repeat(20)}`;
    assert.notEqual(trie.match(long), trie.match(long), "long topics are not cached");
    assert.equal(trie.match(long).length, 1);
  });
});

describe("SubscriptionTrie against matchTopic (property)", () => {
  const level = fc.constantFrom("a", "b", "c", "", "$s");
  const filterArb = fc
    .tuple(
      fc.array(fc.oneof(level, fc.constant("+")), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
    )
    .map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
    .filter((f) => f.length > 0);
  const anyFilter = fc.oneof(
    { weight: 9, arbitrary: filterArb },
    { weight: 1, arbitrary: fc.constant("#") },
  );
  const topicArb = fc
    .array(level, { minLength: 1, maxLength: 5 })
    .map((levels) => levels.join("/"))
    .filter((t) => t.length > 0);

  it("finds exactly the (filter, value) pairs that matchTopic accepts", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(anyFilter, fc.integer({ min: 0, max: 3 })), { maxLength: 40 }),
        fc.array(topicArb, { minLength: 1, maxLength: 20 }),
        fc.constantFrom(0, 1, 3, 1024),
        (subs, topics, cacheSize) => {
          const trie = new SubscriptionTrie<number>({ cacheSize });
          const model = new Set<string>();
          for (const [filter, value] of subs) {
            trie.add(filter, value);
            model.add(`${filter} ${value}`);
          }
          assert.equal(trie.size, model.size);
          for (const topic of [...topics, ...topics]) {
            const expected = [...model]
              .filter((p) => matchTopic(p.slice(0, p.lastIndexOf(" ")), topic))
              .sort();
            assertPairs(trie.match(topic), expected, topic);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("stays equal to a model under interleaved add, remove and match", () => {
    const hotTopic = fc.constantFrom("a", "a/b", "a/b/c", "$s/a", "/", "a//b");
    type Op =
      | { kind: "add"; filter: string; value: number }
      | { kind: "remove"; filter: string; value: number }
      | { kind: "match"; topic: string };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("add" as const),
        filter: anyFilter,
        value: fc.integer({ min: 0, max: 2 }),
      }),
      fc.record({
        kind: fc.constant("remove" as const),
        filter: anyFilter,
        value: fc.integer({ min: 0, max: 2 }),
      }),
      // A few topics recur often, so stale cache entries would be seen.
      fc.record({ kind: fc.constant("match" as const), topic: fc.oneof(topicArb, hotTopic) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 80 }),
        fc.constantFrom(0, 2, 1024),
        (ops, cacheSize) => {
          const trie = new SubscriptionTrie<number>({ cacheSize });
          const model = new Map<string, { filter: string; value: number }>();
          for (const o of ops) {
            if (o.kind === "add") {
              trie.add(o.filter, o.value);
              model.set(`${o.filter} ${o.value}`, o);
            } else if (o.kind === "remove") {
              const key = `${o.filter} ${o.value}`;
              assert.equal(trie.remove(o.filter, o.value), model.delete(key));
            } else {
              const expected = [...model.values()]
                .filter((e) => matchTopic(e.filter, o.topic))
                .map((e) => `${e.filter} ${e.value}`)
                .sort();
              assertPairs(trie.match(o.topic), expected, o.topic);
            }
            assert.equal(trie.size, model.size);
          }
          if (model.size === 0) assert.equal(trie.nodeCount, 0);
          for (const { filter, value } of model.values()) assert.ok(trie.remove(filter, value));
          assert.equal(trie.size, 0);
          assert.equal(trie.nodeCount, 0, "every node is pruned");
        },
      ),
      { numRuns: 500 },
    );
  });
});
