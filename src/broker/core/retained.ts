/**
 * Retained messages (§3.3.1.3), one per topic, kept in a tree of topic
 * levels so a subscription's filter walks only the branches it can match.
 */
import { type Message, ownPayload } from "./message.js";

interface Node {
  children: Map<string, Node> | undefined;
  msg: Message | undefined;
}

const newNode = (): Node => ({ children: undefined, msg: undefined });

export class RetainedStore {
  #root: Node = newNode();
  #size = 0;
  #bytes = 0;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  /** Told of each message removed because it expired (the store forgets it too). */
  onExpired: ((topic: string) => void) | undefined;

  constructor(maxMessages = Number.POSITIVE_INFINITY, maxBytes = Number.POSITIVE_INFINITY) {
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#size;
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Stores `msg` as the retained message of its topic; an empty payload
   * deletes it [MQTT-3.3.1-6]. Returns false when storing it would pass the
   * store's count or byte limit (the old message of the topic, if any, stays).
   */
  set(msg: Message): boolean {
    const levels = msg.topic.split("/");
    if (msg.payload.length === 0) {
      this.#delete(levels);
      return true;
    }
    const old = this.get(msg.topic);
    const count = this.#size + (old === undefined ? 1 : 0);
    const bytes = this.#bytes - (old?.payload.length ?? 0) + msg.payload.length;
    if (count > this.#maxMessages || bytes > this.#maxBytes) return false;
    let node = this.#root;
    for (const level of levels) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (child === undefined) {
        child = newNode();
        node.children.set(level, child);
      }
      node = child;
    }
    if (node.msg === undefined) this.#size++;
    ownPayload(msg);
    node.msg = msg;
    this.#bytes = bytes;
    return true;
  }

  get(topic: string): Message | undefined {
    let node: Node | undefined = this.#root;
    for (const level of topic.split("/")) {
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node.msg;
  }

  #delete(levels: string[]): void {
    const path: Node[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = node.children?.get(level);
      if (child === undefined) return;
      path.push(child);
      node = child;
    }
    if (node.msg === undefined) return;
    this.#bytes -= node.msg.payload.length;
    node.msg = undefined;
    this.#size--;
    // Prune empty branches.
    for (let i = levels.length; i > 0; i--) {
      const n = path[i];
      if (n.msg !== undefined || (n.children !== undefined && n.children.size > 0)) break;
      path[i - 1].children?.delete(levels[i - 1]);
    }
  }

  /**
   * Retained messages whose topic matches `filter`, skipping (and dropping)
   * expired ones. Filters starting with a wildcard do not match topics
   * starting with `$` [MQTT-4.7.2-1].
   */
  match(filter: string, now: number): Message[] {
    const out: Message[] = [];
    const levels = filter.split("/");
    this.#walk(this.#root, levels, 0, out, true);
    if (out.length === 0) return out;
    const live: Message[] = [];
    for (const m of out) {
      if (m.expiresAt !== 0 && m.expiresAt <= now) {
        this.#delete(m.topic.split("/"));
        this.onExpired?.(m.topic);
      } else live.push(m);
    }
    return live;
  }

  #walk(node: Node, levels: string[], i: number, out: Message[], root: boolean): void {
    if (i === levels.length) {
      if (node.msg !== undefined) out.push(node.msg);
      return;
    }
    const level = levels[i];
    if (level === "#") {
      // "sport/#" also matches "sport" itself.
      if (node.msg !== undefined && !root) out.push(node.msg);
      this.#collect(node, out, root);
      return;
    }
    const children = node.children;
    if (children === undefined) return;
    if (level === "+") {
      for (const [name, child] of children) {
        if (root && name.startsWith("$")) continue;
        this.#walk(child, levels, i + 1, out, false);
      }
      return;
    }
    const child = children.get(level);
    if (child !== undefined) this.#walk(child, levels, i + 1, out, false);
  }

  #collect(node: Node, out: Message[], root: boolean): void {
    if (node.children === undefined) return;
    // An explicit stack: topics may be deep.
    const stack: Node[] = [];
    for (const [name, child] of node.children) {
      if (root && name.startsWith("$")) continue;
      stack.push(child);
    }
    while (stack.length > 0) {
      const n = stack.pop() as Node;
      if (n.msg !== undefined) out.push(n.msg);
      if (n.children !== undefined) for (const c of n.children.values()) stack.push(c);
    }
  }
}
