/**
 * The broker core: sessions, routing, retained messages and wills, driven by
 * the connections the transports hand it. Transport-, store- and
 * auth-independent: everything concrete is passed in.
 */
import { type Alloc, createSlabAlloc, type QoS, type Will } from "../../protocol/index.js";
import {
  type Authenticator,
  type Authorizer,
  allowAll,
  type ClientIdentity,
  type EnhancedAuthenticator,
} from "../auth/types.js";
import type { Store } from "../store/index.js";
import type { Connection } from "../transport/types.js";
import { Client } from "./client.js";
import { type Logger, silentLogger } from "./logger.js";
import { forwardedProperties, type Message, ownPayload } from "./message.js";
import { type BrokerLimits, DEFAULT_LIMITS } from "./options.js";
import { pageIn, QUEUE_LOADED_MAX } from "./paging.js";
import { Persistence } from "./persistence.js";
import { restore } from "./restore.js";
import { RetainedStore } from "./retained.js";
import { Router, type SharedGroup } from "./router.js";
import type { Delivery } from "./session/queue.js";
import type { Session } from "./session/session.js";
import { BrokerStats } from "./stats.js";

export interface BrokerCoreOptions {
  limits?: Partial<BrokerLimits>;
  logger?: Logger;
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  /** MQTT 5 enhanced-authentication methods by name. */
  enhancedAuth?: EnhancedAuthenticator[];
  /** Allocator for encoded packets (Node: slabs of Buffers). */
  alloc?: Alloc;
  /** Response Information returned to 5.0 clients that ask for it (§3.1.2.11.6), e.g. a topic prefix. */
  responseInformation?: string;
  /**
   * Where persistent sessions and retained messages are kept across a
   * restart; PUBACK/PUBREC then wait for the commit. None: state lives as
   * long as this core, and nothing is written anywhere.
   */
  store?: Store;
}

/** Session Expiry Interval meaning "never". */
export const NEVER_EXPIRES = 0xffff_ffff;

/** The longest delay one setTimeout can wait (~24.8 days); Node fires a longer one after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * An unref'd setTimeout for any delay (Session Expiry and Will Delay go up to
 * ~136 years): longer delays are re-armed in steps. `track` receives each
 * timer so the session can clear the current one.
 */
function longTimeout(
  fn: () => void,
  ms: number,
  track: (timer: ReturnType<typeof setTimeout>) => void,
): void {
  const at = Date.now() + ms;
  const arm = (wait: number) => {
    const timer = setTimeout(
      () => {
        const rest = at - Date.now();
        if (wait > MAX_TIMER_MS && rest > 0) arm(rest);
        else fn();
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    timer.unref?.();
    track(timer);
  };
  arm(ms);
}

export class BrokerCore {
  readonly limits: BrokerLimits;
  readonly logger: Logger;
  /** Info lines are written: the per-connection ones are built only then. */
  readonly logsInfo: boolean;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly enhancedAuth: Map<string, EnhancedAuthenticator>;
  readonly alloc: Alloc;
  readonly responseInformation: string | undefined;
  readonly sessions = new Map<string, Session>();
  readonly clients = new Set<Client>();
  readonly router = new Router();
  readonly retained: RetainedStore;
  readonly stats = new BrokerStats();
  /** The store's side of the core; undefined without a store. */
  readonly persistence: Persistence | undefined;
  /**
   * The authorizer's delivery-time check, bound once; undefined when it has
   * none, so routing without an ACL makes no per-message call.
   */
  readonly #canRead: ((client: ClientIdentity, topic: string) => boolean) | undefined;
  #sweep: ReturnType<typeof setInterval>;
  #closing = false;
  /**
   * Connections at which to warn that the process's open-file limit is near
   * (set by the process that knows the limit); the warning comes again only
   * after the count fell below 90 % of it.
   */
  connectionsWarnAt = Number.POSITIVE_INFINITY;
  /** What the warning says the limit is, e.g. `open-file limit 20000`. */
  connectionsWarnWhy = "";
  #nearLimitWarned = false;

  constructor(options: BrokerCoreOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.retained = new RetainedStore(
      this.limits.maxRetainedMessages,
      this.limits.maxRetainedBytes,
    );
    this.logger = options.logger ?? silentLogger;
    this.logsInfo = this.logger.isLevelEnabled?.("info") ?? true;
    this.authenticator = options.authenticator ?? allowAll;
    const authorizer = options.authorizer ?? allowAll;
    this.authorizer = authorizer;
    this.#canRead = authorizer.canRead?.bind(authorizer);
    this.enhancedAuth = new Map((options.enhancedAuth ?? []).map((a) => [a.method, a]));
    this.alloc = options.alloc ?? createSlabAlloc();
    this.responseInformation = options.responseInformation;
    this.persistence =
      options.store === undefined ? undefined : new Persistence(options.store, this.logger);
    const persistence = this.persistence;
    if (persistence !== undefined)
      this.retained.onExpired = (topic) => persistence.clearRetained(topic);
    // One timer for every connection's keepalive and CONNECT deadline.
    this.#sweep = setInterval(() => this.#checkTimeouts(), 500);
    this.#sweep.unref?.();
  }

  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Loads what the store kept (sessions with their subscriptions, queues,
   * in-flight and inbound QoS 2 state; retained messages), applying the time
   * the broker was down to session expiry, will delays and message expiry.
   * Call once, before accepting connections; does nothing without a store.
   */
  async restore(): Promise<void> {
    if (this.persistence !== undefined) await restore(this, this.persistence);
  }

  /** Writes the session record when the session is persistent, or removes a stored one that no longer is. */
  saveSession(session: Session): void {
    const p = this.persistence;
    if (p === undefined) return;
    // A resumed session that is no longer persistent keeps its record while its queue has an
    // unloaded tail: those messages are still owed to this connection (it ends at disconnect).
    if (session.expiryInterval > 0 || (session.stored && session.queue.hasTail))
      p.saveSession(session);
    else p.deleteSession(session);
  }

  /** Takes a new connection from a transport. */
  accept(conn: Connection): void {
    if (this.#closing) {
      conn.destroy();
      return;
    }
    if (this.clients.size >= this.limits.maxConnections) {
      this.stats.connectionsRefused++;
      this.logger.warn(
        { remote: conn.remoteAddress, max: this.limits.maxConnections },
        "connection refused: max connections reached",
      );
      // Let the CONNECT arrive so the client learns why (CONNACK Server busy / unavailable).
      const client = new Client(this, conn, { refuse: true });
      this.clients.add(client);
      client.start();
      return;
    }
    const client = new Client(this, conn, { refuse: false });
    this.clients.add(client);
    client.start();
    if (this.clients.size >= this.connectionsWarnAt && !this.#nearLimitWarned) {
      this.#nearLimitWarned = true;
      this.logger.warn(
        { connections: this.clients.size },
        `${this.clients.size} connections, near what the ${this.connectionsWarnWhy} allows: beyond it the operating system refuses new connections without the broker seeing them`,
      );
    }
  }

  /** Called by a client whose connection has closed. */
  forget(client: Client): void {
    this.clients.delete(client);
    if (this.#nearLimitWarned && this.clients.size < this.connectionsWarnAt * 0.9) {
      this.#nearLimitWarned = false;
    }
  }

  #checkTimeouts(): void {
    const now = Date.now();
    for (const client of this.clients) client.checkTimeouts(now);
  }

  // ---- Routing -------------------------------------------------------------

  /**
   * Whether the authorizer lets `client` receive a message on `topic` (true
   * when it has no `canRead`; a refusal is counted). For retained messages
   * handed out on SUBSCRIBE; routing uses the bound check directly.
   */
  mayRead(client: ClientIdentity, topic: string): boolean {
    if (this.#canRead === undefined || this.#canRead(client, topic)) return true;
    this.stats.drop("not_authorized");
    return false;
  }

  /**
   * Routes `msg` to every matching subscription. A session with several
   * matching subscriptions receives the message once, at the highest QoS
   * granted among them and with all their Subscription Identifiers
   * ([MQTT-3.3.4-2], [MQTT-3.3.4-3]); each shared-subscription group sends it
   * to one member ([MQTT-4.8.2-?] round robin). When the authorizer has
   * `canRead`, sessions whose client may not read the topic are skipped
   * (checked once per session). Returns the number of deliveries.
   */
  publish(msg: Message): number {
    this.stats.publishReceived++;
    this.stats.publishReceivedByQos[msg.qos]++;
    const entries = this.router.match(msg.topic);
    if (entries.length === 0) return 0;
    const canRead = this.#canRead;
    let count = 0;
    if (entries.length === 1) {
      const route = entries[0].value;
      if (route.kind === "group") return this.#deliverToGroup(route, msg, undefined) ? 1 : 0;
      const { session, sub } = route;
      if (sub.options.noLocal && session.clientId === msg.origin) return 0;
      if (canRead !== undefined && !canRead(session, msg.topic)) {
        this.stats.drop("not_authorized");
        return 0;
      }
      this.deliver(session, {
        msg,
        qos: Math.min(msg.qos, sub.options.qos) as QoS,
        retain: sub.options.retainAsPublished ? msg.retain : false,
        subscriptionIds: sub.subscriptionId === undefined ? undefined : [sub.subscriptionId],
      });
      return 1;
    }
    const perSession = new Map<Session, Delivery>();
    for (const entry of entries) {
      const route = entry.value;
      if (route.kind === "group") {
        if (this.#deliverToGroup(route, msg, undefined)) count++;
        continue;
      }
      const { session, sub } = route;
      if (sub.options.noLocal && session.clientId === msg.origin) continue;
      const qos = Math.min(msg.qos, sub.options.qos) as QoS;
      const retain = sub.options.retainAsPublished ? msg.retain : false;
      const d = perSession.get(session);
      if (d === undefined) {
        perSession.set(session, {
          msg,
          qos,
          retain,
          subscriptionIds: sub.subscriptionId === undefined ? undefined : [sub.subscriptionId],
        });
      } else {
        if (qos > d.qos) d.qos = qos;
        if (retain) d.retain = true;
        if (sub.subscriptionId !== undefined) {
          if (d.subscriptionIds === undefined) d.subscriptionIds = [sub.subscriptionId];
          else d.subscriptionIds.push(sub.subscriptionId);
        }
      }
    }
    for (const [session, d] of perSession) {
      if (canRead !== undefined && !canRead(session, msg.topic)) {
        this.stats.drop("not_authorized");
        continue;
      }
      this.deliver(session, d);
      count++;
    }
    return count;
  }

  /**
   * Sends `msg` to one member of `group` (not `skip`) that may read it; false
   * when the group has no such member.
   */
  #deliverToGroup(group: SharedGroup, msg: Message, skip: Session | undefined): boolean {
    let member = this.router.pick(group, skip);
    if (member === undefined) return false;
    const canRead = this.#canRead;
    if (canRead !== undefined) {
      // Each pick advances the round robin, so at most one turn over the members.
      for (let tries = group.members.length; !canRead(member.session, msg.topic); ) {
        if (--tries <= 0) {
          this.stats.drop("not_authorized");
          return false;
        }
        member = this.router.pick(group, skip);
        if (member === undefined) return false;
      }
    }
    const { sub } = member;
    this.deliver(member.session, {
      msg,
      qos: Math.min(msg.qos, sub.options.qos) as QoS,
      retain: sub.options.retainAsPublished ? msg.retain : false,
      subscriptionIds: sub.subscriptionId === undefined ? undefined : [sub.subscriptionId],
      group,
    });
    return true;
  }

  /**
   * Re-sends to another member of its group a message a shared-subscription
   * member received but did not acknowledge before its connection ended.
   */
  redeliverShared(d: Delivery, from: Session): boolean {
    if (d.group === undefined) return false;
    return this.#deliverToGroup(d.group, d.msg, from);
  }

  /** Hands one delivery to a session: sent now if its client is connected, else queued. */
  deliver(session: Session, d: Delivery): void {
    const owner = session.owner;
    if (owner !== null) {
      owner.deliver(d);
      return;
    }
    if (d.qos === 0 && !this.limits.queueQos0) return;
    this.enqueue(session, d);
  }

  /**
   * Queues a delivery within the session's limits; applies the overflow
   * policy when full. For a stored session whose client is away (or whose
   * queue already has an unloaded tail, or a full page loaded) the entry goes
   * to the store only: it is paged in when the client is there to take it.
   */
  enqueue(session: Session, d: Delivery): boolean {
    const q = session.queue;
    const full = () =>
      q.length >= this.limits.maxQueuedMessages ||
      q.bytes + d.msg.payload.length > this.limits.maxQueuedBytes;
    if (full()) {
      if (this.limits.queueOverflow === "drop-oldest") {
        while (q.length > 0 && full()) {
          if (q.loaded > 0) {
            const old = q.shift() as Delivery;
            if (old.storeSeq !== undefined) this.persistence?.dequeue(session, old);
          } else q.dropStored();
          session.dropped++;
          this.stats.drop("queue_full");
        }
      }
      if (full()) {
        session.dropped++;
        this.stats.drop("queue_full");
        if (session.dropped === 1 || session.dropped % 1000 === 0) {
          this.logger.warn(
            {
              clientId: session.clientId,
              dropped: session.dropped,
              queued: q.length,
              queuedBytes: q.bytes,
            },
            "queue full: message dropped",
          );
        }
        return false;
      }
    }
    const p = session.stored ? this.persistence : undefined;
    if (p === undefined) {
      ownPayload(d.msg);
      q.push(d);
      return true;
    }
    p.enqueue(session, d);
    if (q.hasTail || session.owner === null || q.loaded >= QUEUE_LOADED_MAX) {
      q.pushStored(d.msg.payload.length);
      return true;
    }
    ownPayload(d.msg);
    q.push(d);
    // Nothing unloaded lies behind it: the next page starts after this entry.
    q.cursor = d.storeSeq ?? q.cursor;
    return true;
  }

  /** Reads the next page of a stored session's unloaded queue tail (see `paging.ts`). */
  pageIn(session: Session): void {
    if (this.persistence !== undefined) pageIn(this, this.persistence, session);
  }

  /** Stores a retained message, logging (once per 1000) when the retained store is full. */
  storeRetained(msg: Message): void {
    if (this.retained.set(msg)) {
      this.persistence?.setRetained(msg);
      return;
    }
    this.stats.retainedRefused++;
    if (this.stats.retainedRefused % 1000 === 1) {
      this.logger.warn(
        {
          topic: msg.topic,
          retained: this.retained.size,
          bytes: this.retained.bytes,
          refused: this.stats.retainedRefused,
        },
        "retained store full: message delivered but not retained",
      );
    }
  }

  // ---- Sessions and wills ---------------------------------------------------

  /** Ends a session: its subscriptions go, and a will still pending is published. */
  endSession(session: Session): void {
    session.clearTimers();
    if (session.subscriptionCount > 0) {
      for (const sub of session.subscriptions.values()) this.router.remove(session, sub);
      session.subscriptions.clear();
    }
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.persistence?.deleteSession(session);
    // Unacknowledged shared-subscription messages go to another member [§4.8.2], except QoS 2
    // ones already sent: those must not reach any other client [MQTT-4.8.2-5].
    const inflight = session.inflightSize > 0 ? session.inflight : undefined;
    if (inflight !== undefined) {
      for (const d of inflight.values())
        if (d.state === "publish" && d.qos === 1) this.redeliverShared(d, session);
    }
    for (const d of session.queue) this.redeliverShared(d, session);
    inflight?.clear();
    session.queue.clear();
    if (session.inboundQos2Size > 0) session.inboundQos2.clear();
    const will = session.will;
    session.will = undefined;
    if (will !== undefined) this.publishWill(session.clientId, will, session.username);
  }

  /**
   * The client of `session` went away without a normal DISCONNECT (or with
   * 0x04): publish the will after its Will Delay Interval, or when the
   * session ends, whichever comes first ([MQTT-3.1.3-9], §3.1.3.2.2).
   */
  scheduleWill(session: Session, elapsedMs = 0): void {
    const will = session.will;
    if (will === undefined) return;
    const delay = will.properties?.willDelayInterval ?? 0;
    const wait = delay * 1000 - elapsedMs;
    const expiry = session.expiryInterval;
    if (wait <= 0 || (expiry !== NEVER_EXPIRES && delay >= expiry)) {
      if (wait <= 0) {
        session.will = undefined;
        if (session.stored) this.saveSession(session);
        this.publishWill(session.clientId, will, session.username);
      }
      // Otherwise the session ends first and endSession publishes it.
      return;
    }
    longTimeout(
      () => {
        session.willTimer = undefined;
        if (session.owner !== null || session.will !== will) return;
        session.will = undefined;
        if (session.stored) this.saveSession(session);
        this.publishWill(session.clientId, will, session.username);
      },
      wait,
      (timer) => {
        session.willTimer = timer;
      },
    );
  }

  publishWill(clientId: string, will: Will, username?: string): void {
    if (!this.authorizer.canPublish({ clientId, username }, will.topic)) {
      this.stats.publishDenied++;
      this.logger.warn({ clientId, topic: will.topic }, "will not published: not authorized");
      return;
    }
    const expiry = will.properties?.messageExpiryInterval;
    const msg: Message = {
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      properties: forwardedProperties(will.properties),
      expiresAt: expiry === undefined ? 0 : Date.now() + expiry * 1000,
      origin: clientId,
    };
    this.logger.info({ clientId, topic: will.topic }, "will published");
    if (msg.retain && this.limits.retainAvailable) this.storeRetained(msg);
    this.publish(msg);
  }

  /** Starts the offline expiry clock of a session whose client went away. */
  scheduleExpiry(session: Session, elapsedMs = 0): void {
    const expiry = session.expiryInterval;
    if (expiry === 0 || (expiry !== NEVER_EXPIRES && expiry * 1000 <= elapsedMs)) {
      this.endSession(session);
      return;
    }
    if (expiry === NEVER_EXPIRES) return;
    longTimeout(
      () => {
        session.expiryTimer = undefined;
        if (session.owner === null) {
          this.logger.info({ clientId: session.clientId }, "session expired");
          this.endSession(session);
        }
      },
      expiry * 1000 - elapsedMs,
      (timer) => {
        session.expiryTimer = timer;
      },
    );
  }

  // ---- Shutdown ------------------------------------------------------------

  /**
   * Closes every connection (5.0 clients get DISCONNECT 0x8B Server shutting
   * down), publishing wills as the spec asks for connections the server
   * closes. Persistent sessions are kept for as long as this core lives.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#sweep);
    const closed: Promise<void>[] = [];
    for (const client of [...this.clients]) closed.push(client.shutdown());
    await Promise.all(closed);
    for (const session of this.sessions.values()) session.clearTimers();
  }
}
