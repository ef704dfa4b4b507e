/**
 * Topic Names, Topic Filters and Shared Subscriptions (MQTT 5.0 §4.7, §4.8.2;
 * MQTT 3.1.1 §4.7).
 *
 * Statement ids are quoted from MQTT 5.0. MQTT 3.1.1 states the same rules of
 * §4.7 under other numbers; where they differ both are given:
 *
 * | rule                                  | 5.0             | 3.1.1           |
 * |---------------------------------------|-----------------|-----------------|
 * | no wildcard in a Topic Name           | `MQTT-4.7.0-1`  | `MQTT-4.7.1-1`  |
 * | `#` alone in the last level           | `MQTT-4.7.1-1`  | `MQTT-4.7.1-2`  |
 * | `+` occupies a whole level            | `MQTT-4.7.1-2`  | `MQTT-4.7.1-3`  |
 *
 * Both versions also say it of PUBLISH: "The Topic Name in the PUBLISH packet
 * MUST NOT contain wildcard characters" [MQTT-3.3.2-2].
 *
 * The validators scan char codes once and allocate nothing unless they throw,
 * so the `isValid*` forms are fit for the hot path.
 */
import { ErrorCode, ProtocolError } from "./errors.js";
import { ReasonCode } from "./reason-codes.js";

const NUL = 0x00;
const HASH = 0x23; // '#'
const DOLLAR = 0x24; // '$'
const PLUS = 0x2b; // '+'
const SLASH = 0x2f; // '/'

/** Longest Topic Name or Topic Filter, in UTF-8 bytes [MQTT-4.7.3-3]. */
export const MAX_TOPIC_BYTES = 65535;

/**
 * A string of at most this many UTF-16 code units cannot encode to more than
 * {@link MAX_TOPIC_BYTES} UTF-8 bytes: one code unit is at most 3 bytes, and a
 * surrogate pair (2 units) is 4.
 */
const ALWAYS_SHORT_ENOUGH = Math.floor(MAX_TOPIC_BYTES / 3);

/** Prefix of a Shared Subscription's Topic Filter [MQTT-4.8.2-1]. */
export const SHARED_SUBSCRIPTION_PREFIX = "$share/";

/** Why a topic is invalid; `None` when it is valid. Internal to this file. */
const Fault = {
  None: 0,
  Empty: 1,
  WildcardInName: 2,
  NullCharacter: 3,
  TooLong: 4,
  MisplacedHash: 5,
  MisplacedPlus: 6,
} as const;
type Fault = (typeof Fault)[keyof typeof Fault];

/** Statement id and message of each fault. */
const faultText: Record<Exclude<Fault, 0>, readonly [statement: string, message: string]> = {
  [Fault.Empty]: ["MQTT-4.7.3-1", "must be at least one character long"],
  [Fault.WildcardInName]: ["MQTT-4.7.0-1", "must not contain the wildcard characters '+' or '#'"],
  [Fault.NullCharacter]: ["MQTT-4.7.3-2", "must not contain the null character U+0000"],
  [Fault.TooLong]: ["MQTT-4.7.3-3", `must not encode to more than ${MAX_TOPIC_BYTES} UTF-8 bytes`],
  [Fault.MisplacedHash]: [
    "MQTT-4.7.1-1",
    "may contain '#' only on its own as the last level (e.g. 'a/#' or '#')",
  ],
  [Fault.MisplacedPlus]: ["MQTT-4.7.1-2", "may contain '+' only as a whole level (e.g. 'a/+/b')"],
};

/**
 * Number of UTF-8 bytes `s` encodes to. A lone surrogate counts 3 bytes, as
 * the `TextEncoder` replacement character would; rejecting it is the UTF-8
 * layer's job [MQTT-1.5.4-1].
 */
function utf8Length(s: string): number {
  const n = s.length;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if ((c & 0xfc00) === 0xd800 && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Whether `s` encodes to more than {@link MAX_TOPIC_BYTES} bytes [MQTT-4.7.3-3]. */
function tooLong(s: string): boolean {
  const n = s.length;
  if (n <= ALWAYS_SHORT_ENOUGH) return false;
  if (n > MAX_TOPIC_BYTES) return true; // every code unit is at least one byte
  return utf8Length(s) > MAX_TOPIC_BYTES;
}

function nameFault(topic: string): Fault {
  const n = topic.length;
  if (n === 0) return Fault.Empty;
  if (n > MAX_TOPIC_BYTES) return Fault.TooLong;
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return Fault.WildcardInName;
    if (c === NUL) return Fault.NullCharacter;
  }
  return tooLong(topic) ? Fault.TooLong : Fault.None;
}

function filterFault(filter: string): Fault {
  const n = filter.length;
  if (n === 0) return Fault.Empty;
  if (n > MAX_TOPIC_BYTES) return Fault.TooLong;
  let levelStart = 0;
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === SLASH) {
      levelStart = i + 1;
    } else if (c === PLUS) {
      // [MQTT-4.7.1-2] '+' is the whole level: first in it, and followed by '/' or the end.
      if (i !== levelStart || (i + 1 < n && filter.charCodeAt(i + 1) !== SLASH)) {
        return Fault.MisplacedPlus;
      }
    } else if (c === HASH) {
      // [MQTT-4.7.1-1] '#' alone or after '/', and the last character.
      if (i !== levelStart || i !== n - 1) return Fault.MisplacedHash;
    } else if (c === NUL) {
      return Fault.NullCharacter;
    }
  }
  return tooLong(filter) ? Fault.TooLong : Fault.None;
}

/** Shows at most 64 code units of a peer's string in an error message, escaped. */
function preview(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

function nameError(topic: string, fault: Exclude<Fault, 0>): ProtocolError {
  const [statement, message] = faultText[fault];
  return new ProtocolError(
    ErrorCode.TopicNameInvalid,
    ReasonCode.TopicNameInvalid,
    statement,
    `Topic Name ${preview(topic)} ${message}`,
  );
}

function filterError(
  filter: string,
  statement: string,
  message: string,
  what = "Topic Filter",
): ProtocolError {
  return new ProtocolError(
    ErrorCode.TopicFilterInvalid,
    ReasonCode.TopicFilterInvalid,
    statement,
    `${what} ${preview(filter)} ${message}`,
  );
}

/**
 * Whether `topic` is a valid Topic Name: not empty [MQTT-4.7.3-1], no `+` or
 * `#` [MQTT-4.7.0-1], no U+0000 [MQTT-4.7.3-2], at most 65,535 UTF-8 bytes
 * [MQTT-4.7.3-3]. Allocates nothing.
 *
 * An MQTT 5 PUBLISH may carry an empty Topic Name together with a Topic
 * Alias (§3.3.2.3.4); resolve the alias before calling this.
 */
export function isValidTopicName(topic: string): boolean {
  return nameFault(topic) === Fault.None;
}

/**
 * Throws unless `topic` is a valid Topic Name (see {@link isValidTopicName}).
 *
 * @throws {ProtocolError} code `TOPIC_NAME_INVALID`, reason code Topic Name
 *   invalid (0x90), with the statement id of the rule broken.
 *
 * @example
 * ```ts
 * validateTopicName("sport/tennis/player1"); // ok
 * validateTopicName("sport/+"); // throws [MQTT-4.7.0-1]
 * ```
 */
export function validateTopicName(topic: string): void {
  const fault = nameFault(topic);
  if (fault !== Fault.None) throw nameError(topic, fault);
}

/**
 * Whether `filter` is a valid Topic Filter: not empty [MQTT-4.7.3-1], `#` only
 * on its own as the last level [MQTT-4.7.1-1], `+` only as a whole level
 * [MQTT-4.7.1-2], no U+0000 [MQTT-4.7.3-2], at most 65,535 UTF-8 bytes
 * [MQTT-4.7.3-3]. Allocates nothing.
 *
 * This checks §4.7 syntax only: `$share/g/a` is a valid filter here. A
 * server decides whether a filter is a Shared Subscription with
 * {@link parseSharedSubscription}, which also checks the rules of §4.8.2.
 */
export function isValidTopicFilter(filter: string): boolean {
  return filterFault(filter) === Fault.None;
}

/**
 * Throws unless `filter` is a valid Topic Filter (see {@link isValidTopicFilter}).
 *
 * @throws {ProtocolError} code `TOPIC_FILTER_INVALID`, reason code Topic
 *   Filter invalid (0x8F), with the statement id of the rule broken.
 *
 * @example
 * ```ts
 * validateTopicFilter("sport/+/player1"); // ok
 * validateTopicFilter("sport/tennis#"); // throws [MQTT-4.7.1-1]
 * ```
 */
export function validateTopicFilter(filter: string): void {
  const fault = filterFault(filter);
  if (fault !== Fault.None) {
    const [statement, message] = faultText[fault];
    throw filterError(filter, statement, message);
  }
}

/** A Shared Subscription `$share/{ShareName}/{filter}`, split in its parts (§4.8.2). */
export interface SharedSubscription {
  /** The ShareName: the group of Sessions that share the subscription. */
  readonly group: string;
  /** The Topic Filter that messages are matched against. */
  readonly filter: string;
}

/**
 * Splits a Shared Subscription's Topic Filter `$share/{ShareName}/{filter}`
 * into its ShareName and Topic Filter (MQTT 5.0 §4.8.2), checking both.
 *
 * Returns `undefined` when `filter` does not start with `$share/`, without
 * checking it: validate such a filter with {@link validateTopicFilter}. A
 * filter that is exactly `$share` is not a Shared Subscription (it lacks the
 * `/` [MQTT-4.8.2-1]) and so also returns `undefined`.
 *
 * The ShareName runs up to the first `/` after the prefix, so it can never
 * contain `/` itself; `$share/a/b/c` is ShareName `a`, filter `b/c`.
 *
 * @throws {ProtocolError} code `TOPIC_FILTER_INVALID`, reason code Topic
 *   Filter invalid (0x8F): empty ShareName [MQTT-4.8.2-1]; ShareName with `+`
 *   or `#`, or without a `/` and a Topic Filter after it [MQTT-4.8.2-2]; an
 *   inner filter that breaks §4.7; U+0000 anywhere [MQTT-4.7.3-2]; more than
 *   65,535 bytes in all [MQTT-4.7.3-3].
 *
 * @example
 * ```ts
 * parseSharedSubscription("$share/consumer1/sport/tennis/+");
 * // => { group: "consumer1", filter: "sport/tennis/+" }
 * parseSharedSubscription("sport/tennis/+"); // => undefined
 * parseSharedSubscription("$share/consumer1"); // throws [MQTT-4.8.2-2]
 * ```
 */
export function parseSharedSubscription(filter: string): SharedSubscription | undefined {
  if (!filter.startsWith(SHARED_SUBSCRIPTION_PREFIX)) return undefined;
  const what = "Shared Subscription";
  const start = SHARED_SUBSCRIPTION_PREFIX.length;
  const n = filter.length;
  if (tooLong(filter)) {
    throw filterError(filter, ...faultText[Fault.TooLong], what);
  }
  // The ShareName ends at the first '/', or at the end (then the filter is missing).
  let end = start;
  for (; end < n; end++) {
    const c = filter.charCodeAt(end);
    if (c === SLASH) break;
    if (c === PLUS || c === HASH) {
      throw filterError(filter, "MQTT-4.8.2-2", "has a ShareName containing '+' or '#'", what);
    }
    if (c === NUL) throw filterError(filter, ...faultText[Fault.NullCharacter], what);
  }
  if (end === start) {
    throw filterError(
      filter,
      "MQTT-4.8.2-1",
      "must have a ShareName of at least one character",
      what,
    );
  }
  if (end + 1 >= n) {
    // "$share/group" or "$share/group/": no Topic Filter after the ShareName.
    throw filterError(
      filter,
      "MQTT-4.8.2-2",
      "must have '/' and a Topic Filter after the ShareName",
      what,
    );
  }
  const inner = filter.slice(end + 1);
  const fault = filterFault(inner);
  if (fault !== Fault.None) {
    const [statement, message] = faultText[fault];
    throw filterError(filter, statement, `has a Topic Filter that ${message}`, what);
  }
  return { group: filter.slice(start, end), filter: inner };
}

/**
 * Whether Topic Name `topic` matches Topic Filter `filter` (§4.7.1): `+`
 * matches exactly one level (possibly empty), `#` matches the parent level
 * and any number of levels below it (`sport/#` matches `sport`), and a filter
 * starting with `+` or `#` does not match a topic starting with `$`
 * [MQTT-4.7.2-1]. Levels are compared code unit by code unit, without
 * normalization [MQTT-4.7.3-4].
 *
 * A reference matcher for single checks and tests; the broker matches many
 * filters at once with `SubscriptionTrie`. Both arguments are expected to be
 * valid (a Shared Subscription's inner filter, not `$share/…`); on invalid
 * input the result is unspecified, but it never throws.
 *
 * @example
 * ```ts
 * matchTopic("sport/+/player1", "sport/tennis/player1"); // true
 * matchTopic("#", "$SYS/uptime"); // false [MQTT-4.7.2-1]
 * ```
 */
export function matchTopic(filter: string, topic: string): boolean {
  const fn = filter.length;
  const tn = topic.length;
  const first = filter.charCodeAt(0);
  if ((first === PLUS || first === HASH) && topic.charCodeAt(0) === DOLLAR) return false;
  let fi = 0;
  let ti = 0;
  // Each turn matches one level; fi and ti start at the first character of a level.
  while (fi < fn) {
    const c = filter.charCodeAt(fi);
    if (c === HASH) return true; // the rest of the topic, however many levels
    if (c === PLUS) {
      fi++;
      while (ti < tn && topic.charCodeAt(ti) !== SLASH) ti++;
    } else {
      while (fi < fn) {
        const f = filter.charCodeAt(fi);
        if (f === SLASH) break;
        if (ti >= tn || topic.charCodeAt(ti) !== f) return false;
        fi++;
        ti++;
      }
      if (ti < tn && topic.charCodeAt(ti) !== SLASH) return false;
    }
    // Both at a '/' or at their end.
    if (fi === fn) return ti === tn;
    fi++;
    if (ti === tn) {
      // The topic has no more levels: only a final "#" matches the parent level.
      return fi === fn - 1 && filter.charCodeAt(fi) === HASH;
    }
    ti++;
  }
  // The filter ended with '/' and its last, empty level was reached.
  return ti === tn;
}
