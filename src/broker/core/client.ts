/**
 * One network connection of one MQTT client: decodes what it sends, hands
 * each packet to the dispatcher, and writes what the broker sends back —
 * flow control, slow-consumer handling and the client's own limits included.
 */
import {
  allowedReasonCodes,
  type ConnectPacket,
  Decoder,
  encode,
  encodePublishHeader,
  MAX_PACKET_SIZE,
  type Packet,
  type Properties,
  ProtocolError,
  type ProtocolVersion,
  type PublishPacket,
  ReasonCode,
  reasonCodeName,
  UnsupportedProtocolError,
} from "../../protocol/index.js";
import type { ConnectInfo } from "../auth/types.js";
import type { Connection, ConnectionHandlers } from "../transport/types.js";
import type { BrokerCore } from "./broker-core.js";
import { dispatch } from "./dispatch.js";
import { ownPayload, remainingSeconds } from "./message.js";
import { unloadQueue } from "./paging.js";
import type { Delivery } from "./session/queue.js";
import type { Inflight, Session, SessionOwner } from "./session/session.js";

export type ClientState = "new" | "authenticating" | "connected" | "closed";

/** MQTT 5 reason code → MQTT 3.1.x CONNACK return code (§3.2.2.3 of 3.1.1). */
export function connackReturnCode(reasonCode: number): number {
  switch (reasonCode) {
    case 0:
      return 0;
    case ReasonCode.UnsupportedProtocolVersion:
      return 1;
    case ReasonCode.ClientIdentifierNotValid:
      return 2;
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return 4;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return 5;
    default:
      return 3; // Server unavailable
  }
}

/** Retained messages sent to one client per event-loop turn at most. */
const RETAINED_BURST = 2000;

export class Client implements SessionOwner {
  readonly core: BrokerCore;
  readonly conn: Connection;
  readonly decoder: Decoder;
  readonly connectedAt = Date.now();
  version: ProtocolVersion = 4;
  state: ClientState = "new";
  session: Session | null = null;
  clientId = "";
  username: string | undefined;
  /** Keep Alive in force, in seconds (0: off). */
  keepalive = 0;
  lastReceived = Date.now();
  /** The client's Receive Maximum: outbound QoS 1/2 window. */
  receiveMaximum = 65_535;
  /** The client's Maximum Packet Size [MQTT-3.1.2-24]. */
  maximumPacketSize = MAX_PACKET_SIZE;
  /** Topic aliases the client set towards the broker (§3.3.2.3.4); made on first use. */
  aliases: Map<number, string> | undefined;
  /** Enhanced authentication in progress (MQTT 5 AUTH). */
  authMethod: string | undefined;
  authInfo: ConnectInfo | undefined;
  /** The CONNECT waiting for enhanced authentication to finish, and whether its id was assigned. */
  authConnect: ConnectPacket | undefined;
  authAssigned = false;
  /** Packets that arrived while CONNECT was being authenticated. */
  pending: Packet[] | undefined;
  /** Set by a DISCONNECT that removes the will (reason 0x00). */
  normalDisconnect = false;
  closeReason = "";
  /** Inbound QoS 1 messages whose PUBACK waits for a commit: they count towards Receive Maximum. */
  qos1AwaitingAck = 0;
  /** Retained messages of new subscriptions still to send (and QoS 0 messages behind them). */
  #retained: Delivery[] | undefined;
  #retainedHead = 0;
  /** Live QoS 0 messages waiting behind them (at most maxQueuedMessages). */
  #retainedLive = 0;
  #retainedScheduled = false;
  /** When this client's buffer went above the high-water mark (0: it is below). */
  #congestedSince = 0;
  /** The connection's bytes flushed at that moment. */
  #flushedSince = 0;
  /** Writes waiting for a commit (acknowledgements, QoS 2 deliveries of a stored session). */
  #held = 0;
  readonly refuse: boolean;
  /** Settled when the transport reports the connection gone; made only when asked (shutdown). */
  #closed: { promise: Promise<void>; resolve: () => void } | undefined;
  #gone = false;

  constructor(core: BrokerCore, conn: Connection, options: { refuse: boolean }) {
    this.core = core;
    this.conn = conn;
    this.refuse = options.refuse;
    this.decoder = new Decoder({ maxPacketSize: core.limits.maxPacketSize });
  }

  get label(): string {
    return this.clientId === "" ? this.conn.remoteAddress : this.clientId;
  }

  start(): void {
    this.conn.start(new ClientEvents(this));
  }

  /** Bytes from the transport (through {@link ClientEvents}). */
  received(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastReceived = Date.now();
    this.core.stats.bytesReceived += chunk.length;
    try {
      this.decoder.push(chunk, this.#onPacket);
    } catch (err) {
      if (err instanceof ProtocolError) this.protocolViolation(err);
      else this.#internalError(err);
    }
  }

  #onPacket = (packet: Packet): void => {
    if (this.state === "closed") return;
    this.core.stats.messagesReceived++;
    if (this.pending !== undefined && !(packet.type === "auth" || packet.type === "disconnect")) {
      // CONNECT is still being authenticated: keep order, within a bound.
      if (this.pending.length >= 1000) {
        this.protocolViolation(
          new ProtocolError(
            "PROTOCOL_ERROR",
            ReasonCode.ReceiveMaximumExceeded,
            "",
            "too many packets before CONNACK",
          ),
        );
        return;
      }
      this.pending.push(packet);
      return;
    }
    this.handle(packet);
  };

  /** Runs one packet through the dispatcher; a handler's failure closes this connection only. */
  handle(packet: Packet): void {
    try {
      dispatch(this, packet);
    } catch (err) {
      if (err instanceof ProtocolError) this.protocolViolation(err);
      else this.#internalError(err);
    }
  }

  #internalError(err: unknown): void {
    this.core.logger.error(
      { clientId: this.label, err },
      "internal error handling client; closing its connection",
    );
    this.disconnect(ReasonCode.ImplementationSpecificError, "internal error");
  }

  // ---- Writing -------------------------------------------------------------

  /** Encodes and writes a control packet (not PUBLISH deliveries: see {@link sendDelivery}). */
  send(packet: Packet): void {
    if (this.state === "closed") return;
    let bytes = encode(packet, this.version, this.core.alloc);
    if (bytes.length > this.maximumPacketSize && this.version === 5 && "properties" in packet) {
      // Drop the Reason String and User Properties first ([MQTT-3.1.2-25], §3.1.2.11.4).
      bytes = encode({ ...packet, properties: undefined } as Packet, this.version, this.core.alloc);
      if (bytes.length > this.maximumPacketSize) return;
    }
    this.conn.write(bytes);
    this.core.stats.bytesSent += bytes.length;
    this.core.stats.messagesSent++;
  }

  /**
   * Sends an acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) once what it
   * confirms is durable (see {@link afterCommit}). `sent` runs just before
   * it is written, or when the commit failed. If the commit fails the
   * connection is closed without the acknowledgement (5.0: DISCONNECT
   * 0x80), and the client sends the message again.
   */
  ackAfterCommit(packet: Packet, sent?: () => void): void {
    this.afterCommit(() => {
      sent?.();
      this.send(packet);
    }, sent);
  }

  /**
   * Runs `write` after the store's commit when this turn staged anything
   * (or `always`), or when an earlier held write is still waiting, so that
   * writes keep their order ([MQTT-4.6.0-2], [MQTT-4.6.0-3]); else at once.
   * Without a store it runs at once. A failed commit runs `failed` instead
   * and closes the connection.
   */
  afterCommit(write: () => void, failed?: () => void, always = false): void {
    const persistence = this.core.persistence;
    if (persistence === undefined || (!always && !persistence.staged && this.#held === 0)) {
      write();
      return;
    }
    this.#held++;
    persistence.commitSoon().then(
      () => {
        this.#held--;
        write();
      },
      (err: unknown) => {
        this.#held--;
        failed?.();
        if (this.state === "closed") return;
        this.core.logger.error(
          { clientId: this.label, err },
          "store commit failed: closing the connection without acknowledging",
        );
        this.disconnect(ReasonCode.UnspecifiedError, "store commit failed");
      },
    );
  }

  /**
   * Whether a QoS 0 message for this client is dropped: its buffer has
   * stayed above the high-water mark for the grace period while it took
   * less than a mark's worth of bytes (a slow consumer), or holds 64 times
   * the mark. A client that keeps reading loses nothing, however far behind.
   */
  #lateForQos0(): boolean {
    const buffered = this.conn.bufferedAmount;
    const limits = this.core.limits;
    if (buffered <= limits.writeHighWaterMark) {
      this.#congestedSince = 0;
      return false;
    }
    if (buffered > limits.writeHighWaterMark * 64) return true;
    const now = Date.now();
    const flushed = this.conn.bytesFlushed;
    if (this.#congestedSince === 0) {
      this.#congestedSince = now;
      this.#flushedSince = flushed ?? 0;
    }
    if (now - this.#congestedSince < limits.slowConsumerGraceMs) return false;
    if (flushed !== undefined && flushed - this.#flushedSince >= limits.writeHighWaterMark) {
      // It took a mark's worth or more over the grace period: busy, not stalled. Look again later.
      this.#congestedSince = now;
      this.#flushedSince = flushed;
      return false;
    }
    return true;
  }

  /** Whether the socket is backed up beyond the high-water mark. */
  get congested(): boolean {
    return this.conn.bufferedAmount > this.core.limits.writeHighWaterMark;
  }

  /** Outbound window for QoS 1/2: the client's Receive Maximum (5.0) or the broker's max inflight (3.1.x). */
  get window(): number {
    return this.version === 5 ? this.receiveMaximum : this.core.limits.maxInflight;
  }

  /** Delivers a message to this (connected) client now, or queues it behind what is waiting. */
  deliver(d: Delivery): void {
    const session = this.session;
    if (session === null || this.state !== "connected") return;
    if (this.#retained !== undefined) {
      // Retained messages of a new subscription are still going out: what comes live goes
      // behind them (QoS 0 here, QoS 1/2 to the session's queue, sent after them), so a
      // client never gets a topic's new value before its older retained one.
      if (d.qos > 0) this.core.enqueue(session, d);
      else if (this.#retainedLive < this.core.limits.maxQueuedMessages) {
        this.#retained.push(d);
        this.#retainedLive++;
      } else this.core.stats.drop("slow_consumer");
      return;
    }
    if (d.qos === 0) {
      if (this.#lateForQos0()) {
        this.core.stats.drop("slow_consumer");
        return;
      }
      this.sendDelivery(d, 0, false);
      return;
    }
    if (session.queue.length > 0 || session.inflightSize >= this.window || this.congested) {
      this.core.enqueue(session, d);
      return;
    }
    this.#sendInflight(session, d);
  }

  #sendInflight(session: Session, d: Delivery): void {
    const packetId = session.allocatePacketId();
    if (packetId === undefined) {
      this.core.enqueue(session, d);
      return;
    }
    const persistence = session.stored ? this.core.persistence : undefined;
    if (d.storeSeq !== undefined) persistence?.dequeue(session, d);
    // One object shape for every in-flight entry (a spread of `d` would copy whichever optional
    // fields it has, and make the per-delivery allocation slow and polymorphic).
    const f: Inflight = {
      msg: d.msg,
      qos: d.qos,
      retain: d.retain,
      subscriptionIds: d.subscriptionIds,
      group: d.group,
      storeSeq: undefined,
      packetId,
      state: "publish",
      storeOrder: undefined,
    };
    session.inflight.set(packetId, f);
    if (!this.sendDelivery(d, packetId, false)) {
      // Too large for this client: treated as delivered (§3.1.2.11.4).
      session.inflight.delete(packetId);
      return;
    }
    // Stored with the dequeue in one batch: the message moves from the queue to in flight.
    persistence?.putInflight(session, f);
  }

  /**
   * Sends the retained messages of a new subscription ([MQTT-3.8.4-4]) as
   * the socket takes them rather than all at once: however many there are,
   * none is dropped for a full socket and other clients are served between
   * the bursts.
   */
  deliverRetained(deliveries: Delivery[]): void {
    if (deliveries.length === 0) return;
    if (this.#retained === undefined) {
      this.#retained = deliveries;
      this.#retainedHead = 0;
    } else for (const d of deliveries) this.#retained.push(d);
    this.pump();
  }

  /** Sends pending retained messages while the socket and the window allow; true when none is left. */
  #pumpRetained(session: Session): boolean {
    const backlog = this.#retained as Delivery[];
    // A bounded burst per turn: other clients are served between bursts.
    const end = Math.min(backlog.length, this.#retainedHead + RETAINED_BURST);
    while (this.#retainedHead < end && !this.congested) {
      const d = backlog[this.#retainedHead];
      if (d.qos > 0 && session.inflightSize >= this.window) return false;
      backlog[this.#retainedHead++] = undefined as unknown as Delivery;
      if (d.qos === 0) this.sendDelivery(d, 0, false);
      else this.#sendInflight(session, d);
    }
    if (this.#retainedHead < backlog.length) {
      // Stopped by the burst bound, not by the socket or the window: go on next turn.
      if (this.#retainedHead === end && !this.congested && !this.#retainedScheduled) {
        this.#retainedScheduled = true;
        setImmediate(() => {
          this.#retainedScheduled = false;
          this.pump();
        });
      }
      return false;
    }
    this.#retained = undefined;
    this.#retainedHead = 0;
    this.#retainedLive = 0;
    return true;
  }

  /** Sends retained, then queued messages while the window and the socket allow. */
  pump(): void {
    const session = this.session;
    if (session === null || this.state !== "connected") return;
    if (!this.congested) this.#congestedSince = 0;
    if (this.#retained !== undefined && !this.#pumpRetained(session)) return;
    const now = Date.now();
    while (session.queue.loaded > 0 && !this.congested) {
      const d = session.queue.peek() as Delivery;
      if (d.qos > 0 && session.inflightSize >= this.window) break;
      session.queue.shift();
      if (d.msg.expiresAt !== 0 && d.msg.expiresAt <= now) {
        if (d.storeSeq !== undefined) this.core.persistence?.dequeue(session, d);
        this.core.stats.drop("expired");
        continue;
      }
      if (d.qos === 0) {
        if (d.storeSeq !== undefined) this.core.persistence?.dequeue(session, d);
        this.sendDelivery(d, 0, false);
      } else this.#sendInflight(session, d);
    }
    // More waits in the store: read the next page before the loaded ones run out.
    if (session.queue.hasTail) this.core.pageIn(session);
  }

  /**
   * Writes one PUBLISH: the header encoded for this client, then the shared
   * payload untouched. Returns false when the packet is not sent (too large
   * for the client, or the message expired).
   */
  sendDelivery(d: Delivery, packetId: number, dup: boolean): boolean {
    const msg = d.msg;
    let properties: Properties | undefined;
    if (this.version === 5) {
      properties = msg.properties;
      if (msg.expiresAt !== 0 || d.subscriptionIds !== undefined) {
        properties = { ...msg.properties };
        if (msg.expiresAt !== 0) {
          const left = remainingSeconds(msg.expiresAt, Date.now());
          // Expiry deletes only a copy whose delivery has not started [MQTT-3.3.2-5]; a re-send
          // (DUP) of one already sent is completed [MQTT-4.3.3-7], or its packet id would leak.
          if (left === 0 && !dup) {
            this.core.stats.drop("expired");
            return false;
          }
          properties.messageExpiryInterval = Math.max(left, 1); // [MQTT-3.3.2-6]
        }
        if (d.subscriptionIds !== undefined) properties.subscriptionIdentifiers = d.subscriptionIds;
      }
    }
    const packet: PublishPacket = {
      type: "publish",
      topic: msg.topic,
      payload: msg.payload,
      qos: d.qos,
      retain: d.retain,
      dup,
    };
    if (d.qos > 0) packet.packetId = packetId;
    if (properties !== undefined) packet.properties = properties;
    const header = encodePublishHeader(packet, this.version, this.core.alloc);
    const size = header.length + msg.payload.length;
    if (size > this.maximumPacketSize) {
      this.core.stats.drop("too_large");
      this.core.logger.debug(
        { clientId: this.label, size, max: this.maximumPacketSize },
        "message larger than the client accepts: dropped",
      );
      return false;
    }
    if (this.#held > 0 || (d.qos === 2 && this.session?.stored === true)) {
      // A QoS 2 PUBLISH to a stored session leaves once its in-flight entry is durable: after a
      // crash it is re-sent with the same packet id and DUP, never as a new message the client
      // could deliver twice [MQTT-4.3.3-10]. What follows it waits too (order).
      this.afterCommit(() => this.#writePublish(header, msg.payload), undefined, true);
    } else this.#writePublish(header, msg.payload);
    this.core.stats.bytesSent += size;
    this.core.stats.messagesSent++;
    this.core.stats.publishSent++;
    this.core.stats.publishSentByQos[d.qos]++;
    return true;
  }

  #writePublish(header: Uint8Array, payload: Uint8Array): void {
    if (this.state === "closed") return;
    this.conn.write(header);
    if (payload.length > 0) this.conn.write(payload);
  }

  // ---- Closing ---------------------------------------------------------------

  /**
   * The peer broke the protocol. A 5.0 client gets DISCONNECT with the reason
   * code (or CONNACK, before it is connected) [MQTT-4.13.1-1]; a 3.1.x client
   * is simply disconnected.
   */
  protocolViolation(err: ProtocolError): void {
    if (this.state === "closed") return;
    this.core.stats.protocolErrors++;
    this.core.logger.warn(
      {
        clientId: this.label,
        remote: this.conn.remoteAddress,
        reasonCode: err.reasonCode,
        statement: err.statement,
      },
      `protocol error: ${err.message}`,
    );
    if (this.state === "new" || this.state === "authenticating") {
      if (err instanceof UnsupportedProtocolError) {
        // The only CONNACK a client of an unknown level can read is the 3.1.1 one [MQTT-3.1.2-2].
        if (err.protocolLevel === 5) this.#writeConnack(5, err.reasonCode);
        else this.#writeConnack(4, 1);
      } else if (this.decoder.version === 5 && this.state === "new") {
        this.#writeConnack(5, connackAllowed(err.reasonCode));
      }
      this.close(`protocol error: ${err.message}`);
      return;
    }
    this.disconnect(err.reasonCode, err.message);
  }

  #writeConnack(version: ProtocolVersion, reasonCode: number): void {
    this.version = version;
    this.send({ type: "connack", sessionPresent: false, reasonCode });
  }

  /** Ends the connection from the server side: 5.0 clients get DISCONNECT with `reasonCode` first. */
  disconnect(reasonCode: number, reasonString?: string): void {
    if (this.state === "closed") return;
    if (this.version === 5 && this.state === "connected") {
      // Some errors carry a code DISCONNECT cannot (0x84 for a second CONNECT of an unknown
      // level): encoding it would throw out of the data handler and take the process down.
      const code = allowedReasonCodes.disconnect.has(reasonCode)
        ? reasonCode
        : ReasonCode.ProtocolError;
      const packet: Packet = { type: "disconnect", reasonCode: code };
      if (reasonString !== undefined && reasonString !== "") packet.properties = { reasonString };
      this.send(packet);
    }
    this.close(`${reasonCodeName(reasonCode)}${reasonString ? `: ${reasonString}` : ""}`);
  }

  /** Flushes and closes the socket; the session is handled when the close arrives. */
  close(reason: string): void {
    if (this.closeReason === "") this.closeReason = reason;
    this.conn.end();
    // For the broker the connection ends now: the will and the session's expiry clock must not
    // wait for the peer to close its side of the socket.
    this.#detach();
  }

  /** The transport reports the connection gone (through {@link ClientEvents}). */
  transportClosed(error?: Error): void {
    if (this.closeReason === "") {
      this.closeReason = error
        ? `connection error: ${error.message}`
        : "connection closed by client";
    }
    this.#detach();
    this.#gone = true;
    this.#closed?.resolve();
  }

  /** Ends this client's part in the broker: once, whichever side closed first. */
  #detach(): void {
    if (this.state === "closed") return;
    const wasConnected = this.state === "connected";
    this.state = "closed";
    this.core.forget(this);
    const session = this.session;
    if (session === null || session.owner !== this) {
      if (wasConnected) this.core.stats.clientsConnected--;
      return;
    }
    this.core.stats.clientsConnected--;
    session.owner = null;
    if (this.core.logsInfo) {
      this.core.logger.info(
        { clientId: this.clientId, remote: this.conn.remoteAddress, reason: this.closeReason },
        `client ${this.clientId} disconnected`,
      );
    }
    // Unacknowledged shared-subscription QoS 1 messages go to another member (§4.8.2); QoS 2
    // ones stay with this session, to be completed on reconnect [MQTT-4.8.2-4], [MQTT-4.8.2-5].
    if (session.inflightSize > 0) {
      for (const [id, d] of session.inflight) {
        if (
          d.state === "publish" &&
          d.qos === 1 &&
          d.group !== undefined &&
          this.core.redeliverShared(d, session)
        ) {
          session.inflight.delete(id);
          if (session.stored) this.core.persistence?.deleteInflight(session, id);
        }
      }
      for (const d of session.inflight.values()) ownPayload(d.msg);
    }
    session.disconnectedAt = Date.now();
    if (this.normalDisconnect) session.will = undefined;
    // The record learns when the client went away (for expiry across a restart) and what the will is now.
    if (session.stored) {
      this.core.saveSession(session);
      unloadQueue(session);
    }
    if (!this.normalDisconnect) this.core.scheduleWill(session);
    this.core.scheduleExpiry(session);
  }

  /** Server shutdown: DISCONNECT 0x8B for 5.0 clients, then close. */
  shutdown(): Promise<void> {
    if (this.state === "closed") return Promise.resolve();
    this.disconnect(ReasonCode.ServerShuttingDown);
    const timer = setTimeout(() => this.conn.destroy(), 2000);
    timer.unref?.();
    if (this.#gone) return Promise.resolve();
    if (this.#closed === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#closed = { promise, resolve };
    }
    return this.#closed.promise;
  }

  /** Called twice a second: CONNECT deadline and keepalive ([MQTT-3.1.2-22] of 5.0: 1.5 × Keep Alive). */
  checkTimeouts(now: number): void {
    // Already closing (waiting for the peer to close its side): once is enough.
    if (this.closeReason !== "") return;
    if (this.state === "new" || this.state === "authenticating") {
      if (now - this.connectedAt > this.core.limits.connectTimeoutMs) {
        this.core.logger.info({ remote: this.conn.remoteAddress }, "no CONNECT in time: closing");
        this.close("connect timeout");
      }
      return;
    }
    if (
      this.state === "connected" &&
      this.keepalive > 0 &&
      now - this.lastReceived > this.keepalive * 1500
    ) {
      this.core.logger.info(
        { clientId: this.clientId, keepalive: this.keepalive },
        "keepalive timeout",
      );
      this.disconnect(ReasonCode.KeepAliveTimeout);
      // "As if the network had failed" [MQTT-3.1.2-22]: a silent peer will not close its side,
      // so do not wait for it (up to 5 s) before the will and the session expiry start.
      this.conn.destroy();
    }
  }
}

/** A reason code that CONNACK may carry for a protocol failure during CONNECT. */
function connackAllowed(reasonCode: number): number {
  switch (reasonCode) {
    case ReasonCode.MalformedPacket:
    case ReasonCode.ProtocolError:
    case ReasonCode.TopicNameInvalid:
    case ReasonCode.PacketTooLarge:
    case ReasonCode.PayloadFormatInvalid:
    case ReasonCode.UnsupportedProtocolVersion:
      return reasonCode;
    default:
      return ReasonCode.ProtocolError;
  }
}

/**
 * The callbacks a client gives its transport: methods on one small object
 * rather than three closures per connection (idle connections are mostly
 * this kind of per-connection state).
 */
class ClientEvents implements ConnectionHandlers {
  readonly #client: Client;
  constructor(client: Client) {
    this.#client = client;
  }
  data(chunk: Uint8Array): void {
    this.#client.received(chunk);
  }
  drain(): void {
    this.#client.pump();
  }
  close(error?: Error): void {
    this.#client.transportClosed(error);
  }
}
