/**
 * The MQTT client: one session with a broker across connections. Pure core —
 * it talks to the network only through a {@link Transport}, so the same code
 * runs in Node and in browsers.
 */
import {
  AbortError,
  ClientDecoder,
  type ClientPacket,
  ClosedError,
  type ConnackPacket,
  type ConnectPacket,
  encodeClientPacket,
  InvalidArgumentError,
  MAX_PACKET_SIZE,
  MqttError,
  matchTopic,
  type Packet,
  type Properties,
  ProtocolError,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  ReasonCode,
  RefusedError,
  reasonCodeName,
  type ServerPacket,
  type SubscribePacket,
  TimeoutError,
  TransportError,
  validateTopicFilter,
  validateTopicName,
} from "../protocol/index.js";
import { Emitter } from "./emitter.js";
import { type Message, toMessage } from "./message.js";
import {
  type ConnectOptions,
  DEFAULTS,
  type PublishOptions,
  type SubscribeOptions,
  type UnsubscribeOptions,
} from "./options.js";
import { type Backoff, backoff, retryableRefusal } from "./reconnect.js";
import { type ClientStore, MemoryClientStore } from "./store.js";
import { Subscription, type SubscriptionHost } from "./subscription.js";
import type { Transport, TransportFactory } from "./transport/types.js";

/** What `status()` reports. */
export type StatusEvent =
  | { type: "connect"; sessionPresent: boolean; connack: ConnackPacket }
  | { type: "disconnect"; error: Error | undefined; reasonCode: number | undefined }
  | { type: "reconnecting"; attempt: number; delay: number }
  | { type: "closed"; error: Error | undefined };

export interface PublishResult {
  /** MQTT 5 reason code of the acknowledgement (0, or 0x10 No matching subscribers); 0 for QoS 0. */
  reasonCode: number;
  properties?: Properties;
}

type ClientEvents = {
  message: [Message];
  connect: [ConnackPacket];
  disconnect: [Error | undefined];
  reconnecting: [number, number];
  close: [Error | undefined];
  /** A write to an asynchronous {@link ClientStore} failed (with no listener, the client closes with STORE_FAILED). */
  storeError: [unknown];
};

interface Outgoing {
  seq: number;
  packet: PublishPacket;
  state: "queued" | "publish" | "pubrel";
  /** When it was published (ms), for message expiry while queued. */
  publishedAt: number;
  resolve: (r: PublishResult) => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

interface PendingAck {
  kind: "suback" | "unsuback";
  resolve: (p: Packet) => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
  /** The connection was lost before the ack: send again on the next connection. */
  retry: () => void;
}

interface SubRecord {
  sub: Subscription;
  packet: Omit<SubscribePacket, "packetId">;
}

const refusedMessage = (code: number) =>
  `${reasonCodeName(code)
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase()} (CONNACK 0x${code.toString(16).padStart(2, "0")})`;

/** 3.1.x CONNACK return codes → MQTT 5 reason codes. */
const RETURN_CODES: Record<number, number> = { 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

export class Client extends Emitter<ClientEvents> implements SubscriptionHost {
  readonly url: URL;
  readonly version: ProtocolVersion;
  #opts: ConnectOptions;
  #factory: TransportFactory;
  #store: ClientStore;
  #backoff: Backoff | undefined;
  #clientId: string;
  #transport: Transport | null = null;
  #decoder: ClientDecoder;
  #state: "connecting" | "connected" | "reconnecting" | "closed" = "connecting";
  #everConnected = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Aborts the connection attempt in progress (end() during a reconnect). */
  #opening: AbortController | undefined;
  #connackTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #pingOutstanding = false;
  #lastDisconnectCode: number | undefined;
  #firstConnect: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  // Limits the broker announced (5.0), reset per connection.
  #receiveMaximum = 65_535;
  #maxPacketSize = MAX_PACKET_SIZE;
  #aliasMaximum = 0;
  #maximumQoS: QoS = 2;
  #retainAvailable = true;
  #subIdsAvailable = true;
  // Outgoing QoS 1/2 (all not yet completed, in publish order) and QoS 0 waiting for a connection.
  #seq = 0;
  #outgoing = new Map<number, Outgoing>();
  #byPacketId = new Map<number, Outgoing>();
  #inflight = 0;
  /** Publishes (any QoS) not yet sent on this connection, in publication order. */
  #sendQueue: (Outgoing | undefined)[] = [];
  #sendHead = 0;
  /** Packet ids of re-sends (DUP) waiting in the send queue: still the broker's, not free. */
  #reservedIds = new Set<number>();
  #queuedBytes = 0;
  #nextPacketId = 1;
  #pendingAcks = new Map<number, PendingAck>();
  #waitingForConnection = new Set<() => void>();
  /** Why the client closed: what operations still waiting are rejected with. */
  #closedError: ClosedError | undefined;
  /** The latest status event, which a new `status()` iterator starts with. */
  #lastStatus: StatusEvent | undefined;
  // Subscriptions.
  #subs = new Map<Subscription, SubRecord>();
  #subsById = new Map<number, Subscription>();
  #nextSubId = 1;
  #pausedBy = new Set<Subscription>();
  // Inbound. Deliveries held until connect()'s caller has run (see #onConnack).
  #held: Array<[Message, number[] | undefined]> | undefined;
  #inboundQos2 = new Set<number>();
  #inAliases = new Map<number, string>();
  #outAliases = new Map<string, number>();
  #statusStreams = new Set<(e: StatusEvent | null) => void>();
  #closed: Promise<Error | undefined>;
  #resolveClosed!: (e: Error | undefined) => void;

  constructor(url: URL, options: ConnectOptions, factory: TransportFactory) {
    super();
    this.url = url;
    this.#opts = options;
    this.version = options.protocolVersion ?? DEFAULTS.protocolVersion;
    if (this.version !== 3 && this.version !== 4 && this.version !== 5) {
      throw new InvalidArgumentError(
        `protocolVersion must be 3, 4 or 5, got ${String(this.version)}`,
      );
    }
    this.#factory = options.transport ?? factory;
    this.#store = options.store ?? new MemoryClientStore();
    this.#backoff = options.reconnect === false ? undefined : backoff(options.reconnect);
    this.#clientId = options.clientId ?? `starling-${Math.random().toString(36).slice(2, 12)}`;
    this.#decoder = new ClientDecoder({ version: this.version });
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** The client identifier in use (the broker's, when it assigned one). */
  get clientId(): string {
    return this.#clientId;
  }

  get connected(): boolean {
    return this.#state === "connected";
  }

  /** Resolves when the client is closed for good, with the error that closed it, if any. */
  closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  /**
   * Connection state changes: connect, disconnect, reconnecting, and a final
   * closed. Each iterator starts with the latest event so far — the current
   * state (so the `connect` of `await connect(…)` is not missed) — then
   * yields every later one; it ends after `closed`. Up to 100 unread events
   * are kept per iterator (oldest dropped).
   */
  status(): AsyncIterable<StatusEvent> {
    const queue: StatusEvent[] = this.#lastStatus !== undefined ? [this.#lastStatus] : [];
    let wake: ((e: StatusEvent | null) => void) | undefined;
    let done = this.#state === "closed";
    const push = (e: StatusEvent | null) => {
      if (e === null) done = true;
      if (wake !== undefined) {
        const w = wake;
        wake = undefined;
        w(e);
      } else if (e !== null) {
        queue.push(e);
        if (queue.length > 100) queue.shift();
      }
    };
    this.#statusStreams.add(push);
    const streams = this.#statusStreams;
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          const e = queue.shift();
          if (e !== undefined) return Promise.resolve({ value: e, done: false });
          if (done) return Promise.resolve({ value: undefined, done: true });
          return new Promise<IteratorResult<StatusEvent>>((resolve) => {
            wake = (ev) =>
              resolve(ev === null ? { value: undefined, done: true } : { value: ev, done: false });
          });
        },
        return: () => {
          streams.delete(push);
          return Promise.resolve({ value: undefined, done: true });
        },
      }),
    };
  }

  #status(e: StatusEvent): void {
    this.#lastStatus = e;
    for (const s of this.#statusStreams) s(e);
  }

  // ---- Connecting ----------------------------------------------------------

  /** Opens the first connection; resolves on CONNACK success. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#firstConnect = { resolve, reject };
      const signal = this.#opts.signal;
      if (signal?.aborted) {
        this.#fail(new AbortError("connect aborted", signal.reason));
        return;
      }
      signal?.addEventListener(
        "abort",
        () => {
          if (this.#firstConnect !== undefined)
            this.#fail(new AbortError("connect aborted", signal.reason));
        },
        { once: true },
      );
      this.#restore().then(
        () => {
          if (this.#state !== "closed") void this.#open();
        },
        (err: unknown) =>
          this.#fail(
            new MqttError(
              "STORE_FAILED",
              `cannot read the client store: ${err instanceof Error ? err.message : String(err)}`,
              {
                cause: err,
              },
            ),
          ),
      );
    });
  }

  /**
   * Loads what the store kept from an earlier run (a process that ended with
   * messages queued or in flight) so they are sent on this connection, in
   * their order: queued ones as new, in-flight ones with DUP and the same
   * packet identifier when the broker still has the session, PUBREL for
   * those already PUBREC'd (§4.4). Nobody awaits these messages any more:
   * their outcome shows in the store (an entry is deleted when done).
   */
  async #restore(): Promise<void> {
    const entries = await this.#store.list();
    for (const e of entries) {
      if (e.packet.qos === 0) continue;
      // Publishes made while the store was being read (a Client driven by hand) keep their
      // numbers; a restored entry that collides is renumbered after them.
      let seq = e.seq;
      if (this.#outgoing.has(seq)) {
        seq = ++this.#seq;
        this.#persist(this.#store.delete(e.seq));
        this.#persist(this.#store.put({ ...e, seq }));
      }
      const o: Outgoing = {
        seq,
        packet: e.packet,
        state: e.state,
        publishedAt: Date.now(),
        resolve: () => {},
        reject: () => {},
        cleanup: () => {},
      };
      this.#seq = Math.max(this.#seq, seq);
      this.#outgoing.set(o.seq, o);
      if (o.state === "queued") {
        this.#sendQueue.push(o);
        this.#queuedBytes += o.packet.payload.length;
      }
    }
  }

  /**
   * Runs a store write. A failing asynchronous store is never an unhandled
   * rejection: it goes to `storeError` listeners, or, with none, closes the
   * client with a STORE_FAILED error.
   */
  #persist(result: void | Promise<void>): void {
    if (result instanceof Promise) {
      result.catch((err: unknown) => {
        if (this.listenerCount("storeError") > 0) {
          this.emit("storeError", err);
          return;
        }
        // Nobody decided that losing durability is acceptable: stop rather than go on silently.
        this.#fail(
          new MqttError(
            "STORE_FAILED",
            `client store write failed: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          ),
        );
      });
    }
  }

  async #open(): Promise<void> {
    const timeout = this.#opts.connectTimeout ?? DEFAULTS.connectTimeout;
    const controller = new AbortController();
    this.#opening = controller;
    const timer = setTimeout(() => controller.abort(), timeout);
    const outer = this.#opts.signal;
    const onOuterAbort = () => controller.abort();
    if (this.#firstConnect !== undefined)
      outer?.addEventListener("abort", onOuterAbort, { once: true });
    let transport: Transport;
    try {
      transport = await this.#factory(this.url, { ...this.#opts, signal: controller.signal });
    } catch (err) {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
      if (this.#state === "closed") return;
      const error =
        controller.signal.aborted && !(outer?.aborted ?? false)
          ? new TimeoutError(`no connection to ${this.url.host} within ${timeout} ms`)
          : err instanceof Error
            ? err
            : new TransportError(String(err));
      this.#lost(error);
      return;
    }
    outer?.removeEventListener("abort", onOuterAbort);
    this.#opening = undefined;
    if (this.#state === "closed") {
      clearTimeout(timer);
      transport.close();
      return;
    }
    this.#transport = transport;
    this.#decoder = new ClientDecoder({
      version: this.version,
      maxPacketSize: this.#opts.properties?.maximumPacketSize ?? MAX_PACKET_SIZE,
    });
    transport.onData = (chunk) => this.#onData(transport, chunk);
    transport.onClose = (error) => {
      if (this.#transport !== transport) return;
      this.#transport = null;
      this.#lost(error ?? new TransportError(`connection to ${this.url.host} closed`));
    };
    transport.onDrain = () => this.#pump();
    clearTimeout(timer);
    this.#connackTimer = setTimeout(() => {
      if (this.#transport === transport) {
        this.#closeTransport(
          new TimeoutError(`no CONNACK from ${this.url.host} within ${timeout} ms`),
        );
      }
    }, timeout);
    this.#send(this.#connectPacket());
  }

  #connectPacket(): ConnectPacket {
    const o = this.#opts;
    const v5 = this.version === 5;
    const packet: ConnectPacket = {
      type: "connect",
      protocolVersion: this.version,
      clean: this.#everConnected ? (o.clean ?? true) && !this.#keepsSession() : (o.clean ?? true),
      keepalive: o.keepalive ?? DEFAULTS.keepalive,
      clientId: this.#clientId,
    };
    if (o.username !== undefined) packet.username = o.username;
    if (o.password !== undefined) {
      packet.password =
        typeof o.password === "string" ? new TextEncoder().encode(o.password) : o.password;
    }
    if (o.will !== undefined) {
      const w = o.will;
      packet.will = {
        topic: w.topic,
        payload: typeof w.payload === "string" ? new TextEncoder().encode(w.payload) : w.payload,
        qos: w.qos ?? 0,
        retain: w.retain ?? false,
      };
      if (v5 && w.properties !== undefined) packet.will.properties = w.properties;
    }
    if (v5) {
      const props: Properties = { ...o.properties };
      if (o.sessionExpiryInterval !== undefined)
        props.sessionExpiryInterval = o.sessionExpiryInterval;
      if (props.topicAliasMaximum === undefined) props.topicAliasMaximum = 64;
      if (o.auth !== undefined) {
        props.authenticationMethod = o.auth.method;
        const data = o.auth.data; // read once: it may be a getter making fresh data
        if (data !== undefined) props.authenticationData = data;
      }
      packet.properties = props;
    }
    return packet;
  }

  /** After the first connection, a clean-start client with a session expiry keeps its session. */
  #keepsSession(): boolean {
    return this.version === 5 && (this.#opts.sessionExpiryInterval ?? 0) > 0;
  }

  #onData(transport: Transport, chunk: Uint8Array): void {
    if (this.#transport !== transport) return;
    try {
      // Packets behind one that closed the connection (in the same chunk) are not acted on.
      this.#decoder.push(chunk, (p) => {
        if (this.#transport === transport) this.#onPacket(p);
      });
    } catch (err) {
      if (err instanceof ProtocolError) {
        // The broker broke the protocol: tell it (5.0) and drop the connection.
        if (this.version === 5 && this.#state === "connected") {
          this.#send({
            type: "disconnect",
            reasonCode: err.reasonCode < 0x80 ? 0x82 : err.reasonCode,
          });
        }
        this.#closeTransport(err);
      } else {
        // A bug of ours must not escape a socket callback and take the process down.
        this.#closeTransport(err instanceof Error ? err : new MqttError("INTERNAL", String(err)));
      }
    }
  }

  #onPacket(p: ServerPacket): void {
    switch (p.type) {
      case "connack":
        this.#onConnack(p);
        return;
      case "publish":
        this.#onPublish(p);
        return;
      case "puback":
      case "pubcomp":
        this.#onFinalAck(p.packetId, p.reasonCode ?? 0, p.properties);
        return;
      case "pubrec":
        this.#onPubrec(p.packetId, p.reasonCode ?? 0, p.properties);
        return;
      case "pubrel":
        this.#inboundQos2.delete(p.packetId);
        this.#send({ type: "pubcomp", packetId: p.packetId });
        return;
      case "suback":
      case "unsuback": {
        const pending = this.#pendingAcks.get(p.packetId);
        if (pending === undefined || pending.kind !== p.type) return;
        this.#pendingAcks.delete(p.packetId);
        pending.cleanup();
        pending.resolve(p);
        return;
      }
      case "pingresp":
        this.#pingOutstanding = false;
        return;
      case "disconnect":
        this.#lastDisconnectCode = p.reasonCode;
        this.#closeTransport(
          new RefusedError(
            "DISCONNECTED",
            p.reasonCode ?? 0,
            `broker disconnected: ${reasonCodeName(p.reasonCode ?? 0)}${p.properties?.reasonString ? ` (${p.properties.reasonString})` : ""}`,
          ),
        );
        return;
      case "auth":
        this.#onAuth(p.reasonCode, p.properties);
        return;
    }
  }

  #onAuth(reasonCode: number, props: Properties | undefined): void {
    const auth = this.#opts.auth;
    if (auth === undefined || reasonCode !== ReasonCode.ContinueAuthentication) {
      if (reasonCode === 0 && auth !== undefined) return; // re-authentication succeeded
      this.#closeTransport(
        new ProtocolError("PROTOCOL_ERROR", 0x82, "§4.12", "unexpected AUTH from the broker"),
      );
      return;
    }
    const transport = this.#transport;
    Promise.resolve()
      .then(() => auth.onChallenge(props?.authenticationData))
      .then(
        (data) => {
          if (this.#transport !== transport) return;
          const properties: Properties = { authenticationMethod: auth.method };
          if (data !== undefined) properties.authenticationData = data;
          this.#send({ type: "auth", reasonCode: ReasonCode.ContinueAuthentication, properties });
        },
        (err: unknown) =>
          this.#closeTransport(
            err instanceof Error ? err : new MqttError("AUTH_FAILED", String(err)),
          ),
      );
  }

  #onConnack(p: ConnackPacket): void {
    clearTimeout(this.#connackTimer);
    if (p.reasonCode !== 0) {
      const reason = this.version === 5 ? p.reasonCode : (RETURN_CODES[p.reasonCode] ?? 0x80);
      const err = new RefusedError(
        "CONNECTION_REFUSED",
        reason,
        `connection refused by ${this.url.host}: ${this.version === 5 ? refusedMessage(reason) : `${reasonCodeName(reason)} (CONNACK return code ${p.reasonCode})`}`,
        this.version === 5 ? undefined : p.reasonCode,
      );
      if (!this.#everConnected || !retryableRefusal(reason)) {
        this.#fail(err);
        return;
      }
      this.#closeTransport(err);
      return;
    }
    const props = p.properties;
    const auth = this.#opts.auth;
    if (auth?.onSuccess !== undefined && this.version === 5) {
      // The broker accepted us; the method may still refuse the broker (a forged SCRAM signature).
      try {
        auth.onSuccess(props?.authenticationData);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new MqttError("AUTH_FAILED", String(err)));
        return;
      }
    }
    this.#receiveMaximum = props?.receiveMaximum ?? 65_535;
    this.#maxPacketSize = props?.maximumPacketSize ?? MAX_PACKET_SIZE;
    this.#aliasMaximum = this.#opts.autoTopicAlias === false ? 0 : (props?.topicAliasMaximum ?? 0);
    this.#maximumQoS = props?.maximumQoS ?? 2;
    this.#retainAvailable = props?.retainAvailable ?? true;
    this.#subIdsAvailable = props?.subscriptionIdentifierAvailable ?? true;
    if (props?.assignedClientIdentifier !== undefined)
      this.#clientId = props.assignedClientIdentifier;
    this.#inAliases.clear();
    this.#outAliases.clear();
    this.#state = "connected";
    this.#attempt = 0;
    this.#everConnected = true;
    // A subscription still full from before the reconnect keeps the new connection paused too.
    if (this.#pausedBy.size > 0) this.#transport?.pause();
    const keepalive = props?.serverKeepAlive ?? this.#opts.keepalive ?? DEFAULTS.keepalive;
    this.#startPing(keepalive);
    // A new session lost our subscriptions: subscribe again [MQTT-3.2.2-?] (the broker forgot them).
    if (!p.sessionPresent) {
      this.#inboundQos2.clear();
      // Not those without a SUBACK yet: their own SUBSCRIBE is waiting for this connection.
      for (const record of this.#subs.values()) {
        if (record.sub.reasonCodes.length > 0) this.#resubscribe(record);
      }
    }
    // Unacknowledged publishes go again, first and in order: PUBLISH with DUP, or PUBREL [MQTT-4.4.0-1].
    const again: Outgoing[] = [];
    for (const o of this.#outgoing.values()) {
      if (o.state === "publish") {
        o.state = "queued";
        if (p.sessionPresent) {
          o.packet.dup = true;
          this.#reservedIds.add(o.packet.packetId as number);
        }
        this.#queuedBytes += o.packet.payload.length;
        again.push(o);
      }
      if (o.state === "pubrel") {
        this.#inflight++;
        this.#byPacketId.set(o.packet.packetId as number, o);
        this.#send({ type: "pubrel", packetId: o.packet.packetId as number });
      }
    }
    if (again.length > 0) {
      const rest = this.#sendQueue.slice(this.#sendHead) as Outgoing[];
      this.#sendQueue = [...again, ...rest].sort((a, b) => a.seq - b.seq);
      this.#sendHead = 0;
    }
    this.#status({ type: "connect", sessionPresent: p.sessionPresent, connack: p });
    this.emit("connect", p);
    const first = this.#firstConnect;
    this.#firstConnect = undefined;
    if (first !== undefined) {
      // Messages right behind the first CONNACK (a resumed session's queue, often in the same
      // chunk) wait until the caller of connect() has had a turn to add listeners.
      this.#held = [];
      setTimeout(() => this.#releaseHeld(), 0);
    }
    first?.resolve();
    for (const wake of [...this.#waitingForConnection]) wake();
    this.#pump();
  }

  #startPing(keepalive: number): void {
    clearInterval(this.#pingTimer);
    this.#pingOutstanding = false;
    if (keepalive <= 0) return;
    this.#pingTimer = setInterval(() => {
      if (this.#pingOutstanding) {
        // No PINGRESP within a keepalive period: the connection is dead (§3.1.2.10).
        this.#closeTransport(
          new TimeoutError(`no PINGRESP from ${this.url.host} within ${keepalive} s`),
        );
        return;
      }
      this.#pingOutstanding = true;
      this.#send({ type: "pingreq" });
    }, keepalive * 1000);
  }

  /** The connection is gone: reconnect, or give up. */
  #lost(error: Error): void {
    clearTimeout(this.#connackTimer);
    clearInterval(this.#pingTimer);
    if (this.#state === "closed") return;
    const wasConnected = this.#state === "connected";
    // In-flight messages wait for the next connection.
    this.#byPacketId.clear();
    this.#inflight = 0;
    // SUBSCRIBE/UNSUBSCRIBE without their ack are sent again once reconnected (a
    // repeat is harmless: it replaces the subscription); if the client gives up
    // instead, they reject with ClosedError. Their timeout and signal still apply.
    const unacked = [...this.#pendingAcks.values()];
    this.#pendingAcks.clear();
    for (const pending of unacked) pending.retry();
    if (wasConnected) {
      this.#status({ type: "disconnect", error, reasonCode: this.#lastDisconnectCode });
      this.emit("disconnect", error);
    }
    this.#lastDisconnectCode = undefined;
    if (!this.#everConnected) {
      this.#fail(error);
      return;
    }
    if (
      error instanceof RefusedError &&
      error.code === "DISCONNECTED" &&
      error.reasonCode === ReasonCode.SessionTakenOver
    ) {
      // Another connection took our client id: reconnecting would take it back and forth.
      this.#fail(error);
      return;
    }
    const delay = this.#backoff?.delay(++this.#attempt);
    if (delay === undefined) {
      this.#fail(
        new ClosedError(
          `gave up reconnecting to ${this.url.host} after ${this.#attempt - 1} attempts`,
          error,
        ),
      );
      return;
    }
    this.#state = "reconnecting";
    this.#status({ type: "reconnecting", attempt: this.#attempt, delay });
    this.emit("reconnecting", this.#attempt, delay);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state === "reconnecting") void this.#open();
    }, delay);
  }

  #closeTransport(error: Error): void {
    const t = this.#transport;
    if (t === null) return;
    this.#transport = null;
    t.close();
    this.#lost(error);
  }

  /** Closes the client for good, failing everything pending with `error`. */
  #fail(error: Error | undefined): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#connackTimer);
    clearInterval(this.#pingTimer);
    this.#opening?.abort();
    this.#opening = undefined;
    const t = this.#transport;
    this.#transport = null;
    t?.close();
    const closedErr =
      error instanceof ClosedError
        ? error
        : new ClosedError(error ? `client closed: ${error.message}` : "client closed", error);
    this.#closedError = closedErr;
    const pending = new Set<Outgoing>(this.#outgoing.values());
    for (let i = this.#sendHead; i < this.#sendQueue.length; i++)
      pending.add(this.#sendQueue[i] as Outgoing);
    for (const o of pending) {
      o.cleanup();
      o.reject(closedErr);
    }
    this.#outgoing.clear();
    this.#sendQueue = [];
    this.#sendHead = 0;
    this.#queuedBytes = 0;
    this.#reservedIds.clear();
    this.#byPacketId.clear();
    for (const pending of this.#pendingAcks.values()) {
      pending.cleanup();
      pending.reject(closedErr);
    }
    this.#pendingAcks.clear();
    for (const wake of [...this.#waitingForConnection]) wake();
    for (const sub of this.#subs.keys()) sub.end();
    this.#subs.clear();
    this.#subsById.clear();
    const first = this.#firstConnect;
    this.#firstConnect = undefined;
    first?.reject(error ?? closedErr);
    this.#status({ type: "closed", error });
    for (const s of this.#statusStreams) s(null);
    this.#statusStreams.clear();
    this.emit("close", error);
    this.#resolveClosed(error);
  }

  /**
   * Disconnects and closes the client. Unless `force`, waits (up to
   * `timeout` ms, default 5000) for in-flight QoS 1/2 publishes to complete.
   * Whatever is still pending then rejects with {@link ClosedError}.
   */
  async end(
    options: {
      force?: boolean;
      timeout?: number;
      reasonCode?: number;
      properties?: Properties;
    } = {},
  ): Promise<void> {
    if (this.#state === "closed") return;
    if (!options.force && this.#state === "connected" && this.#outgoing.size > 0) {
      const deadline = Date.now() + (options.timeout ?? 5000);
      while (this.#outgoing.size > 0 && this.#state === "connected" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    if (this.#transport !== null && this.#state === "connected") {
      const packet: ClientPacket = { type: "disconnect" };
      if (options.reasonCode !== undefined) packet.reasonCode = options.reasonCode;
      if (options.properties !== undefined) packet.properties = options.properties;
      this.#send(packet);
    }
    this.#fail(undefined);
  }

  // ---- Writing ---------------------------------------------------------------

  #send(packet: ClientPacket): boolean {
    const t = this.#transport;
    if (t === null) return false;
    t.write(encodeClientPacket(packet, this.version));
    return true;
  }

  // ---- Publishing ------------------------------------------------------------

  /**
   * Publishes a message. Resolves when the QoS flow completes (QoS 0: once
   * written; 1: PUBACK; 2: PUBCOMP); rejects with {@link RefusedError}
   * carrying the reason code when the broker refuses it, with
   * {@link TimeoutError}/{@link AbortError} when the timeout or signal ends it
   * first, and with {@link ClosedError} when the client closes. Throws
   * {@link InvalidArgumentError} at once for an invalid topic or QoS.
   */
  publish(
    topic: string,
    payload: string | Uint8Array,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    validateTopicName(topic);
    const qos = options.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2)
      throw new InvalidArgumentError(`qos must be 0, 1 or 2, got ${String(qos)}`);
    if (this.#state === "closed") return Promise.reject(new ClosedError());
    const body = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    const packet: PublishPacket = {
      type: "publish",
      topic,
      payload: body,
      qos,
      retain: options.retain ?? false,
      dup: false,
    };
    if (this.version === 5 && options.properties !== undefined)
      packet.properties = { ...options.properties };
    if (this.#state === "connected") {
      if (qos > this.#maximumQoS)
        return Promise.reject(
          new RefusedError(
            "QOS_NOT_SUPPORTED",
            ReasonCode.QoSNotSupported,
            `the broker accepts QoS ≤ ${this.#maximumQoS}`,
          ),
        );
      if (packet.retain && !this.#retainAvailable)
        return Promise.reject(
          new RefusedError(
            "RETAIN_NOT_SUPPORTED",
            ReasonCode.RetainNotSupported,
            "the broker does not support retained messages",
          ),
        );
    }
    return new Promise<PublishResult>((resolve, reject) => {
      const o: Outgoing = {
        seq: ++this.#seq,
        packet,
        state: "queued",
        publishedAt: Date.now(),
        resolve: (r) => {
          if (settled) return;
          settled = true;
          resolve(r);
        },
        reject: (err) => {
          if (settled) return;
          settled = true;
          reject(err);
        },
        cleanup: () => {},
      };
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        // A queued publish is withdrawn. One already sent stays in flight: its packet id and
        // Receive Maximum slot are the broker's until it acknowledges (§4.3.2, §4.3.3).
        if (o.state === "queued" && !this.#forget(o)) return;
        o.cleanup(); // the timer or abort listener that did not fire must not outlive the publish
        o.reject(err);
      };
      o.cleanup = this.#bound(options.signal, options.timeout, `PUBLISH to ${topic}`, fail);
      if (!this.#admit(o)) return;
      if (qos > 0) {
        this.#outgoing.set(o.seq, o);
        this.#persist(this.#store.put({ seq: o.seq, packet, state: "queued" }));
      }
      this.#sendQueue.push(o);
      this.#pump();
    });
  }

  /** Applies the offline-queue bounds to a publish made while it cannot be sent at once. */
  #admit(o: Outgoing): boolean {
    const canSendNow =
      this.#state === "connected" &&
      (o.packet.qos === 0 || this.#inflight < this.#receiveMaximum) &&
      this.#queuedCount() === 0;
    if (canSendNow) return true;
    const q = { ...DEFAULTS.offlineQueue, ...this.#opts.offlineQueue };
    const size = o.packet.payload.length;
    while (this.#queuedCount() >= q.maxMessages || this.#queuedBytes + size > q.maxBytes) {
      if (q.overflow === "drop-oldest" && this.#queuedCount() > 0) {
        const oldest = this.#oldestQueued();
        if (oldest === undefined) break;
        this.#forget(oldest);
        oldest.cleanup();
        oldest.reject(
          new MqttError(
            "QUEUE_FULL",
            "dropped from the offline queue to make room for a newer message",
          ),
        );
        continue;
      }
      o.cleanup();
      o.reject(
        new MqttError(
          "QUEUE_FULL",
          `offline queue full (${q.maxMessages} messages / ${q.maxBytes} bytes)`,
        ),
      );
      return false;
    }
    this.#queuedBytes += size;
    return true;
  }

  #queuedCount(): number {
    return this.#sendQueue.length - this.#sendHead;
  }

  #oldestQueued(): Outgoing | undefined {
    return this.#sendQueue[this.#sendHead];
  }

  /** Removes a publish from every structure; false if it was already gone. */
  #forget(o: Outgoing): boolean {
    let found = false;
    if (this.#outgoing.delete(o.seq)) {
      found = true;
      this.#persist(this.#store.delete(o.seq));
      if (
        o.state !== "queued" &&
        o.packet.packetId !== undefined &&
        this.#byPacketId.get(o.packet.packetId) === o
      ) {
        this.#byPacketId.delete(o.packet.packetId);
        this.#inflight--;
      }
    }
    if (o.packet.packetId !== undefined && o.state === "queued")
      this.#reservedIds.delete(o.packet.packetId);
    if (o.state === "queued") {
      // Rare (timeout, abort, overflow, close): a linear search is fine here.
      const i = this.#sendQueue.indexOf(o, this.#sendHead);
      if (i >= 0) {
        this.#sendQueue.splice(i, 1);
        this.#queuedBytes = Math.max(0, this.#queuedBytes - o.packet.payload.length);
        found = true;
      }
    }
    return found;
  }

  /** Sends what is queued while connected, in order, within the broker's Receive Maximum. */
  #pump(): void {
    const q = this.#sendQueue;
    while (this.#sendHead < q.length && this.#state === "connected" && this.#transport !== null) {
      const o = q[this.#sendHead] as Outgoing;
      if (o.packet.qos > 0 && this.#inflight >= this.#receiveMaximum) return;
      q[this.#sendHead++] = undefined;
      if (this.#sendHead > 1024 && this.#sendHead * 2 > q.length) {
        this.#sendQueue = q.slice(this.#sendHead);
        this.#sendHead = 0;
        this.#sendQueued(o);
        this.#pump();
        return;
      }
      this.#sendQueued(o);
    }
  }

  #sendQueued(o: Outgoing): void {
    const p = o.packet;
    this.#queuedBytes = Math.max(0, this.#queuedBytes - p.payload.length);
    // Message expiry while queued (§3.3.2.3.3): send the remaining interval, or drop it.
    const expiry = p.properties?.messageExpiryInterval;
    if (expiry !== undefined && !p.dup) {
      const elapsed = Math.floor((Date.now() - o.publishedAt) / 1000);
      if (elapsed >= expiry) {
        this.#outgoing.delete(o.seq);
        this.#persist(this.#store.delete(o.seq));
        o.cleanup();
        o.reject(new MqttError("EXPIRED", `message to ${p.topic} expired before it could be sent`));
        return;
      }
      (p.properties as Properties).messageExpiryInterval = expiry - elapsed;
      // Count the time waited once: a re-send on a later connection subtracts only what came after.
      o.publishedAt += elapsed * 1000;
    }
    if (p.qos > 0) {
      if (p.packetId !== undefined) this.#reservedIds.delete(p.packetId);
      if (p.packetId === undefined || !p.dup) p.packetId = this.#allocatePacketId();
      o.state = "publish";
      this.#byPacketId.set(p.packetId, o);
      this.#inflight++;
      this.#persist(this.#store.put({ seq: o.seq, packet: p, state: "publish" }));
    }
    const wire = this.#withAlias(p);
    const bytes = encodeClientPacket(wire, this.version);
    if (bytes.length > this.#maxPacketSize) {
      // The broker never sees this PUBLISH, so an alias it would have set must not be used later.
      if (wire.topic !== "" && wire.properties?.topicAlias !== undefined)
        this.#outAliases.delete(p.topic);
      this.#forget(o);
      o.cleanup();
      o.reject(
        new RefusedError(
          "PACKET_TOO_LARGE",
          ReasonCode.PacketTooLarge,
          `PUBLISH of ${bytes.length} bytes exceeds the broker's Maximum Packet Size of ${this.#maxPacketSize}`,
        ),
      );
      return;
    }
    this.#transport?.write(bytes);
    if (p.qos === 0) {
      o.cleanup();
      o.resolve({ reasonCode: 0 });
    }
  }

  /** Replaces the topic with a Topic Alias when the broker allows them (§3.3.2.3.4). */
  #withAlias(p: PublishPacket): PublishPacket {
    if (this.version !== 5 || this.#aliasMaximum === 0 || p.dup) return p;
    const known = this.#outAliases.get(p.topic);
    if (known !== undefined)
      return { ...p, topic: "", properties: { ...p.properties, topicAlias: known } };
    if (this.#outAliases.size >= this.#aliasMaximum) return p;
    const alias = this.#outAliases.size + 1;
    this.#outAliases.set(p.topic, alias);
    return { ...p, properties: { ...p.properties, topicAlias: alias } };
  }

  #allocatePacketId(): number {
    let id = this.#nextPacketId;
    while (this.#byPacketId.has(id) || this.#pendingAcks.has(id) || this.#reservedIds.has(id)) {
      id = id === 65_535 ? 1 : id + 1;
    }
    this.#nextPacketId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  #onPubrec(packetId: number, reasonCode: number, properties: Properties | undefined): void {
    const o = this.#byPacketId.get(packetId);
    if (o === undefined || o.packet.qos !== 2) {
      this.#send({
        type: "pubrel",
        packetId,
        ...(this.version === 5 ? { reasonCode: ReasonCode.PacketIdentifierNotFound } : {}),
      });
      return;
    }
    if (reasonCode >= 0x80) {
      this.#refusedAck(o, reasonCode, properties);
      return;
    }
    o.state = "pubrel";
    this.#persist(this.#store.put({ seq: o.seq, packet: o.packet, state: "pubrel" }));
    this.#send({ type: "pubrel", packetId });
  }

  #onFinalAck(packetId: number, reasonCode: number, properties: Properties | undefined): void {
    const o = this.#byPacketId.get(packetId);
    if (o === undefined) return;
    if (reasonCode >= 0x80) {
      this.#refusedAck(o, reasonCode, properties);
      return;
    }
    this.#forget(o);
    o.cleanup();
    const result: PublishResult = { reasonCode };
    if (properties !== undefined) result.properties = properties;
    o.resolve(result);
    this.#pump();
  }

  #refusedAck(o: Outgoing, reasonCode: number, properties: Properties | undefined): void {
    this.#forget(o);
    o.cleanup();
    o.reject(
      new RefusedError(
        "PUBLISH_REFUSED",
        reasonCode,
        `PUBLISH to ${o.packet.topic} refused: ${reasonCodeName(reasonCode)} (0x${reasonCode.toString(16)})${properties?.reasonString ? `: ${properties.reasonString}` : ""}`,
      ),
    );
    this.#pump();
  }

  // ---- Receiving -------------------------------------------------------------

  #onPublish(p: PublishPacket): void {
    let topic = p.topic;
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      if (topic === "") {
        const known = this.#inAliases.get(alias);
        if (known === undefined) {
          this.#closeTransport(
            new ProtocolError(
              "PROTOCOL_ERROR",
              0x82,
              "§3.3.2.3.4",
              `unknown topic alias ${alias} from the broker`,
            ),
          );
          return;
        }
        topic = known;
      } else {
        this.#inAliases.set(alias, topic);
      }
    }
    if (p.qos === 2) {
      const id = p.packetId as number;
      const duplicate = this.#inboundQos2.has(id);
      this.#inboundQos2.add(id);
      this.#send({ type: "pubrec", packetId: id });
      if (duplicate) return; // exactly once: delivered on the first PUBLISH (§4.3.3)
    }
    this.#deliver(toMessage(p, topic), p.properties?.subscriptionIdentifiers);
    if (p.qos === 1) this.#send({ type: "puback", packetId: p.packetId as number });
  }

  #releaseHeld(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const [msg, ids] of held) this.#deliver(msg, ids);
  }

  #deliver(msg: Message, ids: number[] | undefined): void {
    if (this.#held !== undefined) {
      this.#held.push([msg, ids]);
      return;
    }
    if (ids !== undefined && ids.length > 0) {
      for (const id of ids) this.#subsById.get(id)?.push(msg);
    } else {
      for (const sub of this.#subs.keys()) {
        if (sub.filters.some((f) => matchTopic(stripShare(f), msg.topic))) sub.push(msg);
      }
    }
    this.emit("message", msg);
  }

  backpressure(sub: Subscription, full: boolean): void {
    const before = this.#pausedBy.size;
    if (full) this.#pausedBy.add(sub);
    else this.#pausedBy.delete(sub);
    if (before === 0 && this.#pausedBy.size > 0) this.#transport?.pause();
    if (before > 0 && this.#pausedBy.size === 0) this.#transport?.resume();
  }

  // ---- Subscribing -----------------------------------------------------------

  /**
   * Subscribes to one or more filters. Resolves with a {@link Subscription}
   * (an async iterable of matching messages) once SUBACK grants every filter;
   * rejects with {@link RefusedError} when the broker refuses any (filters it
   * granted are unsubscribed again, so the subscription is all or nothing).
   */
  async subscribe(
    filters: string | string[],
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    const list = typeof filters === "string" ? [filters] : [...filters];
    if (list.length === 0)
      throw new InvalidArgumentError("subscribe needs at least one topic filter");
    for (const f of list) validateTopicFilter(stripShare(f));
    const qos = options.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2)
      throw new InvalidArgumentError(`qos must be 0, 1 or 2, got ${String(qos)}`);
    if (this.#state === "closed") throw new ClosedError();
    const v5 = this.version === 5;
    const id = v5 && this.#subIdsAvailable ? this.#nextSubId++ : undefined;
    const packet: Omit<SubscribePacket, "packetId"> = {
      type: "subscribe",
      subscriptions: list.map((topicFilter) => ({
        topicFilter,
        qos,
        ...(v5
          ? {
              noLocal: options.noLocal ?? false,
              retainAsPublished: options.retainAsPublished ?? false,
              retainHandling: options.retainHandling ?? 0,
            }
          : {}),
      })),
    };
    if (v5) {
      const properties: Properties = {};
      if (id !== undefined) properties.subscriptionIdentifier = id;
      if (options.userProperties !== undefined) properties.userProperties = options.userProperties;
      if (id !== undefined || options.userProperties !== undefined) packet.properties = properties;
    }
    // The subscription exists before SUBACK so retained messages right behind it are not missed.
    const sub = new Subscription(
      this,
      list,
      [],
      id,
      options.buffer ?? this.#opts.subscriptionBuffer ?? DEFAULTS.subscriptionBuffer,
    );
    this.#subs.set(sub, { sub, packet });
    if (id !== undefined) this.#subsById.set(id, sub);
    let suback: Packet;
    try {
      suback = await this.#request(
        "suback",
        packet,
        options.signal,
        options.timeout,
        `SUBSCRIBE ${list.join(", ")}`,
      );
    } catch (err) {
      this.#dropSub(sub);
      throw err;
    }
    const codes = (suback as { reasonCodes: number[] }).reasonCodes;
    (sub as { reasonCodes: readonly number[] }).reasonCodes = codes;
    if (codes.some((c) => c >= 0x80)) {
      this.#dropSub(sub);
      const granted = list.filter((_, i) => (codes[i] ?? 0x80) < 0x80);
      if (granted.length > 0 && this.#state === "connected") {
        void this.#request(
          "unsuback",
          { type: "unsubscribe", topicFilters: granted },
          undefined,
          undefined,
          "UNSUBSCRIBE",
        ).catch(() => {});
      }
      const bad = codes
        .map((c, i) => `${list[i]}: 0x${c.toString(16)}`)
        .filter((_, i) => codes[i] >= 0x80);
      throw new RefusedError(
        "SUBSCRIBE_REFUSED",
        codes.find((c) => c >= 0x80) as number,
        `subscription refused (${bad.join(", ")})`,
      );
    }
    return sub;
  }

  #dropSub(sub: Subscription): void {
    this.#subs.delete(sub);
    if (sub.id !== undefined) this.#subsById.delete(sub.id);
    this.#pausedBy.delete(sub);
    sub.end();
  }

  #resubscribe(record: SubRecord): void {
    void this.#request("suback", record.packet, undefined, undefined, "re-SUBSCRIBE").catch(
      () => {},
    );
  }

  /** Unsubscribes filters; subscriptions whose filters are all gone end. Resolves with the UNSUBACK reason codes (5.0). */
  async unsubscribe(
    filters: string | string[],
    options: UnsubscribeOptions = {},
  ): Promise<number[]> {
    const list = typeof filters === "string" ? [filters] : [...filters];
    if (list.length === 0)
      throw new InvalidArgumentError("unsubscribe needs at least one topic filter");
    const packet: Omit<Packet & { type: "unsubscribe" }, "packetId"> = {
      type: "unsubscribe",
      topicFilters: list,
    };
    if (this.version === 5 && options.userProperties !== undefined)
      packet.properties = { userProperties: options.userProperties };
    const unsuback = (await this.#request(
      "unsuback",
      packet,
      options.signal,
      options.timeout,
      `UNSUBSCRIBE ${list.join(", ")}`,
    )) as { reasonCodes?: number[] };
    for (const sub of [...this.#subs.keys()]) {
      if (sub.filters.every((f) => list.includes(f))) this.#dropSub(sub);
    }
    return unsuback.reasonCodes ?? list.map(() => 0);
  }

  async unsubscribeOf(sub: Subscription): Promise<void> {
    if (!this.#subs.has(sub)) return;
    const others = new Set<string>();
    for (const s of this.#subs.keys()) if (s !== sub) for (const f of s.filters) others.add(f);
    const filters = sub.filters.filter((f) => !others.has(f));
    this.#dropSub(sub);
    if (filters.length > 0 && this.#state !== "closed") await this.unsubscribe(filters);
  }

  /** Sends a SUBSCRIBE or UNSUBSCRIBE (waiting for a connection if needed) and resolves with its ack. */
  #request(
    kind: "suback" | "unsuback",
    packet: Omit<SubscribePacket, "packetId"> | Omit<Packet & { type: "unsubscribe" }, "packetId">,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    what: string,
  ): Promise<Packet> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let packetId = 0;
      let wake: (() => void) | undefined;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        cleanup(); // the timer or abort listener that did not fire must not outlive the request
        if (wake) this.#waitingForConnection.delete(wake);
        if (packetId !== 0) this.#pendingAcks.delete(packetId);
        reject(err);
      };
      const cleanup = this.#bound(signal, timeout, what, fail);
      const sendNow = () => {
        if (settled) return;
        if (this.#state === "closed") {
          cleanup();
          fail(this.#closedError ?? new ClosedError());
          return;
        }
        packetId = this.#allocatePacketId();
        this.#pendingAcks.set(packetId, {
          kind,
          resolve: (p) => {
            settled = true;
            resolve(p);
          },
          reject: fail,
          cleanup,
          retry: () => {
            packetId = 0;
            waitForConnection();
          },
        });
        this.#send({ ...packet, packetId } as ClientPacket);
      };
      const waitForConnection = () => {
        wake = () => {
          if (wake) this.#waitingForConnection.delete(wake);
          wake = undefined;
          sendNow();
        };
        this.#waitingForConnection.add(wake);
      };
      // Closed: sendNow rejects at once (waiting for a connection would hang until the timeout).
      if (this.#state === "connected" || this.#state === "closed") sendNow();
      else waitForConnection();
    });
  }

  /** Arms the timeout and abort signal of one operation; returns the cleanup. */
  #bound(
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    what: string,
    fail: (err: unknown) => void,
  ): () => void {
    const ms = timeout ?? this.#opts.operationTimeout ?? DEFAULTS.operationTimeout;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (ms > 0)
      timer = setTimeout(
        () => fail(new TimeoutError(`${what}: no acknowledgement within ${ms} ms`)),
        ms,
      );
    const onAbort = () => fail(new AbortError(`${what}: aborted`, signal?.reason));
    if (signal?.aborted) queueMicrotask(onAbort);
    else signal?.addEventListener("abort", onAbort, { once: true });
    return () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
  }
}

function stripShare(filter: string): string {
  if (!filter.startsWith("$share/")) return filter;
  const i = filter.indexOf("/", 7);
  return i < 0 ? filter : filter.slice(i + 1);
}
