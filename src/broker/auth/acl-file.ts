/**
 * Mosquitto's ACL file (`acl_file` in mosquitto.conf(5)) as an
 * {@link Authorizer}. Once an ACL is configured, whatever it does not grant
 * is denied.
 *
 * ```text
 * # A comment: the line's first non-blank character is "#" (there are no trailing comments).
 * # Before any "user" line: clients without a user name.
 * topic read $SYS/#
 * # alice's section, up to the next "user" line.
 * user alice
 * topic readwrite alice/#
 * topic deny alice/secret/#
 * # Every client; %u is the user name, %c the client id.
 * pattern write sensor/%u/data
 * ```
 *
 * - `topic [read|write|readwrite|deny] TOPIC`: the access defaults to
 *   `readwrite`; it must be given when TOPIC contains a space. TOPIC may hold
 *   `+` and `#` as in subscriptions.
 * - `user NAME` starts the section of the client that authenticated as NAME;
 *   the `topic` lines before the first `user` line are for clients without a
 *   user name. A user with no section gets only what patterns grant.
 * - `pattern [read|write|readwrite|deny] TOPIC` applies to every client,
 *   wherever it stands, with `%c` replaced by the client id and `%u` by the
 *   user name. Each must be a whole topic level (mosquitto.conf(5)); a `%u`
 *   pattern does not apply to a client without a user name.
 * - `deny` lines are checked before any grant: a topic a deny line matches
 *   is denied, whatever else grants it.
 *
 * PUBLISH and wills need `write` on the Topic Name; receiving a message needs
 * `read` on its Topic Name ({@link AclFile.canRead}, checked for every
 * delivery, retained messages and wills included). A SUBSCRIBE is granted
 * when its filter could deliver something: some `read` grant overlaps it in
 * a part that no single deny line covers (see {@link AclFile.canSubscribe}).
 *
 * @example
 * ```ts
 * const broker = await Broker.start({ authorizer: await AclFile.load("/etc/starling/acl") });
 * ```
 */
import { readFile } from "node:fs/promises";
import { isValidTopicFilter, parseSharedSubscription } from "../../protocol/index.js";
import { filterCovers, filterIntersection } from "./filter-overlap.js";
import type { Authorizer, ClientIdentity } from "./types.js";

/** What an ACL line allows: bit 1 read, bit 2 write; `Deny` (0) takes access away. */
export const AclAccess = { Deny: 0, Read: 1, Write: 2, ReadWrite: 3 } as const;
export type AclAccess = (typeof AclAccess)[keyof typeof AclAccess];

const ACCESS_WORDS = new Map<string, AclAccess>([
  ["read", AclAccess.Read],
  ["write", AclAccess.Write],
  ["readwrite", AclAccess.ReadWrite],
  ["deny", AclAccess.Deny],
]);

/** An ACL file that cannot be used: the message names the file, the line and what was expected. */
export class AclFileError extends Error {
  readonly file: string;
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, problem: string) {
    super(`${line === undefined ? file : `${file}:${line}`}: ${problem}`);
    this.name = "AclFileError";
    this.file = file;
    this.line = line;
  }
}

/** Placeholders of a `pattern` line, standing for a whole level. */
const CLIENT_ID = 0;
const USERNAME = 1;
type Level = string | typeof CLIENT_ID | typeof USERNAME;

interface Rule {
  readonly access: AclAccess;
  readonly levels: readonly Level[];
  readonly usesClientId: boolean;
  readonly usesUsername: boolean;
}

/** Rules of one section, deny lines apart so they are checked first. */
interface Section {
  readonly denies: Rule[];
  readonly grants: Rule[];
}

const newSection = (): Section => ({ denies: [], grants: [] });

/**
 * The values substituted for `%c` and `%u`: null when the value is not one
 * plain topic level (empty, or holding `/`, `+` or `#`), so substituting it
 * could reach other clients' topics or widen a filter; `username` is
 * undefined for a client without a user name.
 */
interface Vars {
  clientId: string | null;
  username: string | null | undefined;
}

const plainLevel = (s: string): string | null => (/^[^/+#]+$/.test(s) ? s : null);

function varsOf(client: ClientIdentity): Vars {
  return {
    clientId: plainLevel(client.clientId),
    username: client.username === undefined ? undefined : plainLevel(client.username),
  };
}

/**
 * How a pattern applies to a client: "skip" (a `%u` pattern for a client
 * without a user name), "unsafe" (a value it uses is not a plain level:
 * a grant then grants nothing and a deny denies everything), or "ok".
 */
function patternFor(rule: Rule, vars: Vars): "skip" | "unsafe" | "ok" {
  if (rule.usesUsername && vars.username === undefined) return "skip";
  if (
    (rule.usesUsername && vars.username === null) ||
    (rule.usesClientId && vars.clientId === null)
  )
    return "unsafe";
  return "ok";
}

/** Whether `rule` (whose placeholders `vars` can fill) matches the Topic Name split into `topic`. */
function matches(rule: readonly Level[], topic: readonly string[], vars: Vars): boolean {
  const first = rule[0];
  if ((first === "+" || first === "#") && topic[0].startsWith("$")) return false; // [MQTT-4.7.2-1]
  for (let i = 0; i < rule.length; i++) {
    const r = rule[i];
    if (r === "#") return true; // the rest, or nothing: a/# matches a
    if (i === topic.length) return false;
    if (r === "+") continue;
    const literal = r === CLIENT_ID ? vars.clientId : r === USERNAME ? vars.username : r;
    if (literal !== topic[i]) return false;
  }
  return rule.length === topic.length;
}

/** `rule`'s levels with the placeholders filled in (the pattern applies: see {@link patternFor}). */
function resolve(rule: Rule, vars: Vars): string[] {
  return rule.levels.map((l) =>
    l === CLIENT_ID ? (vars.clientId ?? "") : l === USERNAME ? (vars.username ?? "") : l,
  );
}

export class AclFile implements Authorizer {
  /** Where the rules came from, for messages. */
  readonly path: string;
  readonly #anonymous: Section;
  readonly #users: Map<string, Section>;
  readonly #patterns: Section;
  /**
   * Fan-out asks about one topic for many sessions in a row: the last topic
   * split, and each client's substitution values (re-derived when its id or
   * user name changes), are kept.
   */
  #lastTopic = "";
  #lastLevels: readonly string[] = [""];
  readonly #vars = new WeakMap<
    ClientIdentity,
    { id: string; user: string | undefined; vars: Vars }
  >();

  private constructor(
    path: string,
    anonymous: Section,
    users: Map<string, Section>,
    patterns: Section,
  ) {
    this.path = path;
    this.#anonymous = anonymous;
    this.#users = users;
    this.#patterns = patterns;
  }

  /** Reads and parses the file at `path`; rejects with an {@link AclFileError}. */
  static async load(path: string): Promise<AclFile> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === "ENOENT" ? "no such file" : e.message;
      throw new AclFileError(path, undefined, `cannot read the ACL file: ${why}`);
    }
    return AclFile.parse(text, path);
  }

  /**
   * Parses the text of an ACL file; `path` only names it in errors. Throws an
   * {@link AclFileError} at the first line that is not a comment, a blank
   * line, or a well-formed `topic`, `pattern` or `user` line.
   */
  static parse(text: string, path = "<acl>"): AclFile {
    const anonymous = newSection();
    const users = new Map<string, Section>();
    const patterns = newSection();
    let section = anonymous;
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line === "" || line.startsWith("#")) continue;
      const fail = (problem: string) => new AclFileError(path, i + 1, problem);
      const [keyword, rest] = splitFirst(line);
      if (keyword === "user") {
        if (rest === undefined) throw fail('expected a user name after "user"');
        let s = users.get(rest);
        if (s === undefined) {
          s = newSection();
          users.set(rest, s);
        }
        section = s;
      } else if (keyword === "topic" || keyword === "pattern") {
        const rule = parseRule(keyword, rest, fail);
        const into = keyword === "pattern" ? patterns : section;
        (rule.access === AclAccess.Deny ? into.denies : into.grants).push(rule);
      } else {
        throw fail(`expected "topic", "pattern" or "user" (or a # comment), found "${keyword}"`);
      }
    }
    return new AclFile(path, anonymous, users, patterns);
  }

  /** Whether `client` may publish to `topic` (and have its will published there): `write` access. */
  canPublish(client: ClientIdentity, topic: string): boolean {
    return this.#allows(client, topic, AclAccess.Write);
  }

  /** Whether `client` may receive a message published to `topic`: `read` access. */
  canRead(client: ClientIdentity, topic: string): boolean {
    return this.#allows(client, topic, AclAccess.Read);
  }

  /**
   * Whether `client` may subscribe to `filter` (for a shared subscription,
   * the filter after `$share/{group}/`). Granted when some `read` grant G the
   * client has overlaps the filter F — some topic matches both — and no single
   * deny line covers the overlap F∩G. Each delivery is still checked with
   * {@link canRead}, so a granted `#` receives only what may be read, and a
   * refusal here only ever removes subscriptions that could deliver nothing.
   */
  canSubscribe(client: ClientIdentity, filter: string): boolean {
    let inner = filter;
    try {
      inner = parseSharedSubscription(filter)?.filter ?? filter;
    } catch {
      return false;
    }
    const wanted = inner.split("/");
    const vars = varsOf(client);
    const own = this.#sectionOf(client);
    const denies: string[][] = [];
    for (const rule of own?.denies ?? []) denies.push(resolve(rule, vars));
    for (const rule of this.#patterns.denies) {
      const use = patternFor(rule, vars);
      if (use === "unsafe") return false;
      if (use === "ok") denies.push(resolve(rule, vars));
    }
    const readable = (rule: Rule): boolean => {
      if ((rule.access & AclAccess.Read) === 0) return false;
      const overlap = filterIntersection(resolve(rule, vars), wanted);
      return overlap !== undefined && !denies.some((d) => filterCovers(d, overlap));
    };
    for (const rule of own?.grants ?? []) if (readable(rule)) return true;
    for (const rule of this.#patterns.grants)
      if (patternFor(rule, vars) === "ok" && readable(rule)) return true;
    return false;
  }

  #varsOf(client: ClientIdentity): Vars {
    const hit = this.#vars.get(client);
    if (hit !== undefined && hit.id === client.clientId && hit.user === client.username)
      return hit.vars;
    const vars = varsOf(client);
    this.#vars.set(client, { id: client.clientId, user: client.username, vars });
    return vars;
  }

  #sectionOf(client: ClientIdentity): Section | undefined {
    return client.username === undefined ? this.#anonymous : this.#users.get(client.username);
  }

  /** Deny lines first (the client's section, then patterns), then grants with `want` access. */
  #allows(client: ClientIdentity, topic: string, want: AclAccess): boolean {
    if (topic !== this.#lastTopic) {
      this.#lastLevels = topic.split("/");
      this.#lastTopic = topic;
    }
    const levels = this.#lastLevels;
    const vars = this.#varsOf(client);
    const own = this.#sectionOf(client);
    if (own !== undefined)
      for (const rule of own.denies) if (matches(rule.levels, levels, vars)) return false;
    for (const rule of this.#patterns.denies) {
      const use = patternFor(rule, vars);
      if (use === "unsafe" || (use === "ok" && matches(rule.levels, levels, vars))) return false;
    }
    if (own !== undefined)
      for (const rule of own.grants)
        if ((rule.access & want) !== 0 && matches(rule.levels, levels, vars)) return true;
    for (const rule of this.#patterns.grants)
      if (
        (rule.access & want) !== 0 &&
        patternFor(rule, vars) === "ok" &&
        matches(rule.levels, levels, vars)
      )
        return true;
    return false;
  }
}

/** The first word of `s` and the rest (trimmed; undefined when there is none). */
function splitFirst(s: string): [string, string | undefined] {
  const m = /^(\S+)\s+(.*)$/.exec(s);
  return m === null ? [s, undefined] : [m[1], m[2].trim() || undefined];
}

function parseRule(
  keyword: "topic" | "pattern",
  rest: string | undefined,
  fail: (problem: string) => AclFileError,
): Rule {
  const usage = `expected "${keyword} [read|write|readwrite|deny] TOPIC"`;
  if (rest === undefined) throw fail(`${usage}, found no topic`);
  const [first, after] = splitFirst(rest);
  let access: AclAccess = AclAccess.ReadWrite;
  let topic = first;
  const word = ACCESS_WORDS.get(first);
  if (word !== undefined) {
    if (after === undefined) throw fail(`${usage}, found no topic after "${first}"`);
    access = word;
    topic = after;
  } else if (after !== undefined) {
    // Without an access word the topic is one word; a space means a typo'd access or a missing one.
    throw fail(
      `${usage}: "${first}" is not an access (read, write, readwrite or deny), and a topic with spaces needs one before it`,
    );
  }
  if (!isValidTopicFilter(topic)) {
    throw fail(
      `"${topic}" is not a valid topic filter: "+" and "#" must fill a whole level, "#" only the last`,
    );
  }
  const levels: Level[] = [];
  let usesClientId = false;
  let usesUsername = false;
  for (const level of topic.split("/")) {
    const placeholder = level === "%c" ? CLIENT_ID : level === "%u" ? USERNAME : undefined;
    if (placeholder !== undefined && keyword === "pattern") {
      levels.push(placeholder);
      if (placeholder === CLIENT_ID) usesClientId = true;
      else usesUsername = true;
      continue;
    }
    if (level.includes("%c") || level.includes("%u")) {
      throw fail(
        keyword === "topic"
          ? `"${topic}": %c and %u are replaced only in "pattern" lines`
          : `"${topic}": %c and %u must be a whole topic level (as in sensor/%u/data), found "${level}"`,
      );
    }
    levels.push(level);
  }
  return { access, levels, usesClientId, usesUsername };
}
