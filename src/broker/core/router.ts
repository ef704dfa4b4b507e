/**
 * Routing: which sessions receive a message published to a topic. Normal
 * subscriptions and shared-subscription groups (§4.8.2) live in one
 * subscription trie; a group is one trie entry whose members take turns.
 */
import { SubscriptionTrie, type TrieEntry } from "../../protocol/index.js";
import type { Session, SessionSubscription } from "./session/session.js";

export interface SubscriptionRoute {
  kind: "sub";
  session: Session;
  sub: SessionSubscription;
}

export interface GroupMember {
  session: Session;
  sub: SessionSubscription;
}

export interface SharedGroup {
  kind: "group";
  name: string;
  topicFilter: string;
  members: GroupMember[];
  /** Round-robin cursor. */
  next: number;
}

export type Route = SubscriptionRoute | SharedGroup;

export class Router {
  readonly #trie: SubscriptionTrie<Route>;
  readonly #routes = new Map<SessionSubscription, SubscriptionRoute>();
  readonly #groups = new Map<string, SharedGroup>();
  #count = 0;

  constructor(cacheSize = 4096) {
    this.#trie = new SubscriptionTrie<Route>({ cacheSize });
  }

  /** Subscriptions held, shared members included. */
  get count(): number {
    return this.#count;
  }

  add(session: Session, sub: SessionSubscription): void {
    if (sub.group === undefined) {
      const route: SubscriptionRoute = { kind: "sub", session, sub };
      this.#routes.set(sub, route);
      this.#trie.add(sub.topicFilter, route);
    } else {
      const key = `${sub.group}\u0000${sub.topicFilter}`;
      let group = this.#groups.get(key);
      if (group === undefined) {
        group = {
          kind: "group",
          name: sub.group,
          topicFilter: sub.topicFilter,
          members: [],
          next: 0,
        };
        this.#groups.set(key, group);
        this.#trie.add(sub.topicFilter, group);
      }
      group.members.push({ session, sub });
    }
    this.#count++;
  }

  remove(session: Session, sub: SessionSubscription): void {
    if (sub.group === undefined) {
      const route = this.#routes.get(sub);
      if (route === undefined) return;
      this.#routes.delete(sub);
      this.#trie.remove(sub.topicFilter, route);
    } else {
      const key = `${sub.group}\u0000${sub.topicFilter}`;
      const group = this.#groups.get(key);
      if (group === undefined) return;
      const i = group.members.findIndex((m) => m.session === session && m.sub === sub);
      if (i < 0) return;
      group.members.splice(i, 1);
      if (group.next > i) group.next--;
      if (group.members.length === 0) {
        this.#groups.delete(key);
        this.#trie.remove(sub.topicFilter, group);
      }
    }
    this.#count--;
  }

  match(topic: string): readonly TrieEntry<Route>[] {
    return this.#trie.match(topic);
  }

  /**
   * The member of `group` to receive the next message: round robin over
   * members whose client is connected, or over all members when none is
   * (their sessions queue it). `skip` excludes one session, used when
   * re-delivering a message its first receiver did not acknowledge.
   */
  pick(group: SharedGroup, skip?: Session): GroupMember | undefined {
    const members = group.members;
    const n = members.length;
    if (n === 0) return undefined;
    let fallback: GroupMember | undefined;
    for (let k = 0; k < n; k++) {
      const i = (group.next + k) % n;
      const m = members[i];
      if (m.session === skip) continue;
      if (m.session.owner !== null) {
        group.next = (i + 1) % n;
        return m;
      }
      fallback ??= m;
    }
    if (fallback !== undefined) group.next = (members.indexOf(fallback) + 1) % n;
    return fallback;
  }

  /** The shared group a subscription belongs to. */
  groupOf(sub: SessionSubscription): SharedGroup | undefined {
    return sub.group === undefined
      ? undefined
      : this.#groups.get(`${sub.group}\u0000${sub.topicFilter}`);
  }
}
