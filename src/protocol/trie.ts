/**
 * A subscription trie: Topic Filters stored by level, so matching a Topic
 * Name costs work proportional to its depth and to the wildcard branches that
 * actually exist, not to the number of filters (nats-server `sublist.go`).
 */
import { InvalidArgumentError } from "./errors.js";
import { isValidTopicFilter } from "./topic.js";

const DOLLAR = 0x24; // '$'

/** One (filter, value) pair stored in a {@link SubscriptionTrie}. Frozen. */
export interface TrieEntry<T> {
  /** The Topic Filter the value was added under, exactly as given to `add`. */
  readonly filter: string;
  /** The value added. */
  readonly value: T;
}

/** Options of a {@link SubscriptionTrie}. */
export interface SubscriptionTrieOptions {
  /**
   * How many of the most recently used Topic Names are sure to keep their
   * match result cached; the cache holds up to twice as many (see
   * {@link SubscriptionTrie}). `0` turns the cache off. Default 1024.
   */
  readonly cacheSize?: number;
  /**
   * Topic Names longer than this (in UTF-16 code units) are matched but not
   * cached, so the cache's memory stays bounded by
   * `2 × cacheSize × cacheMaxTopicLength` code units of keys. Default 512.
   */
  readonly cacheMaxTopicLength?: number;
}

/** Default of {@link SubscriptionTrieOptions.cacheSize}. */
export const DEFAULT_TRIE_CACHE_SIZE = 1024;
/** Default of {@link SubscriptionTrieOptions.cacheMaxTopicLength}. */
export const DEFAULT_TRIE_CACHE_MAX_TOPIC_LENGTH = 512;

/** The result of matching nothing. Frozen, so sharing it is safe. */
const NO_ENTRIES: readonly TrieEntry<never>[] = Object.freeze([]);

/**
 * One level of the trie. `+` and `#` have their own slots so that literal
 * levels are a single `Map` lookup; `#` is always the last level, so its slot
 * holds entries rather than a node. Slots are created on first use.
 */
class TrieNode<T> {
  /** Children by literal level (which may be the empty string). */
  children: Map<string, TrieNode<T>> | undefined = undefined;
  /** Child for a `+` level. */
  plus: TrieNode<T> | undefined = undefined;
  /** Entries whose filter ends with `#` after this node's level. */
  hash: Map<T, TrieEntry<T>> | undefined = undefined;
  /** Entries whose filter ends at this node. */
  entries: Map<T, TrieEntry<T>> | undefined = undefined;

  isEmpty(): boolean {
    return (
      this.entries === undefined &&
      this.hash === undefined &&
      this.plus === undefined &&
      this.children === undefined
    );
  }
}

function pushAll<T>(out: TrieEntry<T>[], entries: Map<T, TrieEntry<T>>): void {
  for (const entry of entries.values()) out.push(entry);
}

/**
 * Topic Filters and the values subscribed through them, matched against
 * Topic Names per MQTT §4.7: `+` matches one level, `#` matches the parent
 * level and everything below (`a/#` matches `a`), empty levels (`a//b`, `/a`)
 * are levels like any other, and filters starting with `+` or `#` do not match
 * Topic Names starting with `$` [MQTT-4.7.2-1].
 *
 * **Overlapping filters.** {@link SubscriptionTrie.match} returns one {@link TrieEntry} per
 * matching (filter, value) pair. A value added under both `a/+` and `a/#`
 * appears twice for `a/b`, once per filter, because a server needs each
 * matching subscription: it delivers at the maximum QoS of all of them
 * [MQTT-3.3.4-2] and sends every Subscription Identifier [MQTT-3.3.4-3].
 * Callers that want one delivery per subscriber group the entries by value.
 * The same value added twice under the same filter is stored once.
 *
 * Values are compared by identity (`SameValueZero`, as `Map` keys are).
 * Filters are stored as given: pass a Shared Subscription's inner filter
 * (see `parseSharedSubscription`), not `$share/{ShareName}/…`.
 *
 * **Cache.** Recent results are cached per Topic Name, and the whole cache
 * is dropped by every `add` or `remove` that changes the trie, so a result is
 * never stale. Eviction approximates LRU with two generations of `cacheSize`
 * topics each (as the `quick-lru` package does): new and re-used topics go to
 * the recent generation; when it is full it becomes the older one and the
 * previous older generation is dropped whole. So the last `cacheSize`
 * distinct topics used are always cached, and at most `2 × cacheSize` are.
 * Every operation is O(1); a true LRU would move an entry on every hit, and
 * evicting the oldest key of a `Map` one at a time walks over its deleted
 * slots (in `bench/codec/trie.ts`, that cost ~2 µs per match once the
 * working set outgrew the cache).
 *
 * Work per match is proportional to the topic's depth times the wildcard
 * branches present on the way, never to the number of filters; the walk is
 * iterative, so deep topics cannot overflow the stack.
 *
 * @example
 * ```ts
 * const trie = new SubscriptionTrie<string>();
 * trie.add("sport/tennis/+", "alice");
 * trie.add("sport/#", "bob");
 * trie.match("sport/tennis/player1").map((e) => e.value); // ["bob", "alice"] (any order)
 * ```
 */
export class SubscriptionTrie<T> {
  #root = new TrieNode<T>();
  #size = 0;
  #nodeCount = 0;
  /** Topics per cache generation; 0 when the cache is off. */
  readonly #generationSize: number;
  readonly #cacheMaxTopicLength: number;
  /** Topic Name → frozen result, for topics cached or re-used lately. */
  #recent = new Map<string, readonly TrieEntry<T>[]>();
  /** The generation before `#recent`; dropped when `#recent` fills up. */
  #older = new Map<string, readonly TrieEntry<T>[]>();

  /** @throws {InvalidArgumentError} when an option is negative or not an integer. */
  constructor(options: SubscriptionTrieOptions = {}) {
    const cacheSize = options.cacheSize ?? DEFAULT_TRIE_CACHE_SIZE;
    const maxLength = options.cacheMaxTopicLength ?? DEFAULT_TRIE_CACHE_MAX_TOPIC_LENGTH;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
      throw new InvalidArgumentError(`cacheSize must be a non-negative integer, got ${cacheSize}`);
    }
    if (!Number.isSafeInteger(maxLength) || maxLength < 0) {
      throw new InvalidArgumentError(
        `cacheMaxTopicLength must be a non-negative integer, got ${maxLength}`,
      );
    }
    this.#generationSize = cacheSize;
    this.#cacheMaxTopicLength = maxLength;
  }

  /** Number of (filter, value) entries stored. */
  get size(): number {
    return this.#size;
  }

  /**
   * Number of trie nodes below the root. Unused nodes are pruned on
   * `remove`, so this returns to 0 once every entry is removed.
   */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * Stores `value` under `filter`. Adding a value already stored under the
   * same filter changes nothing.
   *
   * @throws {InvalidArgumentError} when `filter` is not a valid Topic Filter
   *   (check peers' filters with `validateTopicFilter` first, to answer them
   *   with the right reason code).
   */
  add(filter: string, value: T): void {
    if (!isValidTopicFilter(filter)) {
      throw new InvalidArgumentError(`not a valid Topic Filter: ${JSON.stringify(filter)}`);
    }
    const levels = filter.split("/");
    const last = levels.length - 1;
    let node = this.#root;
    let entries: Map<T, TrieEntry<T>>;
    for (let i = 0; ; i++) {
      const level = levels[i];
      if (level === "#") {
        // Valid filters have '#' only as the last level [MQTT-4.7.1-1].
        node.hash ??= new Map();
        entries = node.hash;
        break;
      }
      if (level === "+") {
        node.plus ??= this.#newNode();
        node = node.plus;
      } else {
        node = this.#child(node, level);
      }
      if (i === last) {
        node.entries ??= new Map();
        entries = node.entries;
        break;
      }
    }
    if (entries.has(value)) return;
    entries.set(value, Object.freeze({ filter, value }));
    this.#size++;
    this.#invalidate();
  }

  /**
   * Removes `value` from under `filter`, pruning nodes left empty.
   *
   * @returns whether the entry existed.
   */
  remove(filter: string, value: T): boolean {
    const levels = filter.split("/");
    const last = levels.length - 1;
    // path[d] is the node reached after d levels; path[0] is the root.
    const path: TrieNode<T>[] = [this.#root];
    let node = this.#root;
    let hash = false;
    for (let i = 0; i <= last; i++) {
      const level = levels[i];
      if (level === "#") {
        if (i !== last) return false;
        hash = true;
        break;
      }
      const next = level === "+" ? node.plus : node.children?.get(level);
      if (next === undefined) return false;
      node = next;
      path.push(node);
    }
    const entries = hash ? node.hash : node.entries;
    if (entries === undefined || !entries.delete(value)) return false;
    if (entries.size === 0) {
      if (hash) node.hash = undefined;
      else node.entries = undefined;
    }
    for (let d = path.length - 1; d > 0 && path[d].isEmpty(); d--) {
      const parent = path[d - 1];
      const level = levels[d - 1];
      if (level === "+") {
        parent.plus = undefined;
      } else {
        const children = parent.children!;
        children.delete(level);
        if (children.size === 0) parent.children = undefined;
      }
      this.#nodeCount--;
    }
    this.#size--;
    this.#invalidate();
    return true;
  }

  /**
   * Every entry whose filter matches Topic Name `topic`: one per matching
   * (filter, value) pair, in no particular order (see the class comment on
   * overlapping filters).
   *
   * Treat the result as read-only: a cached result is shared by every caller
   * of the same topic and is frozen, like every entry. (An uncached result,
   * with the cache off or a topic over `cacheMaxTopicLength`, is a fresh
   * array left unfrozen, since freezing costs tens of nanoseconds.)
   *
   * Precondition: `topic` is a valid Topic Name (`isValidTopicName`); the
   * trie does not check it again on this hot path.
   */
  match(topic: string): readonly TrieEntry<T>[] {
    if (this.#generationSize === 0 || topic.length > this.#cacheMaxTopicLength) {
      return this.#collect(topic);
    }
    let result = this.#recent.get(topic);
    if (result !== undefined) return result;
    result = this.#older.get(topic);
    if (result === undefined) {
      const found = this.#collect(topic);
      // Frozen, because the same array goes to every caller of this topic.
      result = found.length === 0 ? NO_ENTRIES : Object.freeze(found);
    }
    if (this.#recent.size >= this.#generationSize) {
      this.#older = this.#recent;
      this.#recent = new Map();
    }
    this.#recent.set(topic, result);
    return result;
  }

  /** Removes every entry and empties the cache. */
  clear(): void {
    this.#root = new TrieNode<T>();
    this.#size = 0;
    this.#nodeCount = 0;
    this.#invalidate();
  }

  /**
   * Walks the trie along `topic`. Levels are sliced as they are reached, not
   * split up front, and only a branch not taken at once (a `+` beside a
   * literal child) is pushed on an explicit stack: no recursion, so deep
   * topics cannot overflow the call stack.
   */
  #collect(topic: string): TrieEntry<T>[] {
    const out: TrieEntry<T>[] = [];
    const root = this.#root;
    // Pending branches as (node, start) pairs; allocated only if one is met.
    let pending: (TrieNode<T> | number)[] | undefined;
    let node: TrieNode<T> | undefined = root;
    // Offset of the next level in `topic`; -1 once every level is consumed.
    let start = 0;
    for (;;) {
      while (node !== undefined) {
        // '#' matches the remaining levels, and the parent level when none remain.
        // [MQTT-4.7.2-1] At the root, '+' and '#' do not match topics starting with '$'.
        const shielded: boolean = node === root && topic.charCodeAt(0) === DOLLAR;
        if (node.hash !== undefined && !shielded) pushAll(out, node.hash);
        if (start < 0) {
          if (node.entries !== undefined) pushAll(out, node.entries);
          break;
        }
        const end = topic.indexOf("/", start);
        const level = end < 0 ? topic.slice(start) : topic.slice(start, end);
        const next = end < 0 ? -1 : end + 1;
        const plus: TrieNode<T> | undefined = shielded ? undefined : node.plus;
        node = node.children?.get(level);
        if (plus !== undefined) {
          if (node === undefined) {
            node = plus;
          } else {
            pending ??= [];
            pending.push(plus, next);
          }
        }
        start = next;
      }
      if (pending === undefined || pending.length === 0) break;
      start = pending.pop() as number;
      node = pending.pop() as TrieNode<T>;
    }
    return out;
  }

  #child(node: TrieNode<T>, level: string): TrieNode<T> {
    node.children ??= new Map();
    let child = node.children.get(level);
    if (child === undefined) {
      child = this.#newNode();
      node.children.set(level, child);
    }
    return child;
  }

  #newNode(): TrieNode<T> {
    this.#nodeCount++;
    return new TrieNode<T>();
  }

  #invalidate(): void {
    if (this.#recent.size > 0) this.#recent = new Map();
    if (this.#older.size > 0) this.#older = new Map();
  }
}
