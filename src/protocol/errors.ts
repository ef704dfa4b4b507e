/**
 * Errors of the protocol layer. One base {@link MqttError} with a stable
 * string `code`, an optional MQTT 5 `reasonCode` and a `cause`; subclasses are
 * split by who is at fault.
 */
import { ReasonCode } from "./reason-codes.js";

/** Stable, machine-readable error codes. */
export const ErrorCode = {
  MalformedPacket: "MALFORMED_PACKET",
  ProtocolError: "PROTOCOL_ERROR",
  PacketTooLarge: "PACKET_TOO_LARGE",
  UnsupportedProtocolVersion: "UNSUPPORTED_PROTOCOL_VERSION",
  PayloadFormatInvalid: "PAYLOAD_FORMAT_INVALID",
  TopicNameInvalid: "TOPIC_NAME_INVALID",
  TopicFilterInvalid: "TOPIC_FILTER_INVALID",
  InvalidArgument: "INVALID_ARGUMENT",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface MqttErrorOptions {
  reasonCode?: number;
  cause?: unknown;
}

/** Base class of every error Starling raises. */
export class MqttError extends Error {
  /** Stable string code, e.g. `MALFORMED_PACKET`. */
  readonly code: string;
  /** The MQTT 5 reason code that describes the failure, when there is one. */
  readonly reasonCode: number | undefined;

  constructor(code: string, message: string, options: MqttErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MqttError";
    this.code = code;
    this.reasonCode = options.reasonCode;
  }
}

/**
 * The peer broke the protocol: a malformed packet, a protocol error, a packet
 * too large. Carries the reason code the spec names and, where the spec has
 * one, the conformance statement id (e.g. `MQTT-2.2.2-1`) or section.
 */
export class ProtocolError extends MqttError {
  declare readonly reasonCode: number;
  /** Conformance statement id (`MQTT-x.y.z-n`) or spec section (`§3.1.2.11.3`). */
  readonly statement: string;

  constructor(code: ErrorCode, reasonCode: number, statement: string, message: string) {
    super(code, statement ? `${message} [${statement}]` : message, { reasonCode });
    this.name = "ProtocolError";
    this.statement = statement;
  }
}

/** A Malformed Packet (0x81): the bytes cannot be parsed as the spec says. */
export function malformed(statement: string, message: string): ProtocolError {
  return new ProtocolError(
    ErrorCode.MalformedPacket,
    ReasonCode.MalformedPacket,
    statement,
    message,
  );
}

/** A Protocol Error (0x82): parsed, but breaks a rule of the protocol. */
export function protocolError(statement: string, message: string): ProtocolError {
  return new ProtocolError(ErrorCode.ProtocolError, ReasonCode.ProtocolError, statement, message);
}

/** Caller misuse of an API (thrown synchronously, never a peer's fault). */
export class InvalidArgumentError extends MqttError {
  constructor(message: string) {
    super(ErrorCode.InvalidArgument, message);
    this.name = "InvalidArgumentError";
  }
}

/**
 * The peer refused something with a reason code: CONNACK, PUBACK/PUBREC,
 * SUBACK, UNSUBACK, or a DISCONNECT from the server. `reasonCode` is the MQTT 5
 * code (3.1.x CONNACK return codes are mapped to their MQTT 5 equivalents, the
 * original kept in `returnCode`).
 */
export class RefusedError extends MqttError {
  declare readonly reasonCode: number;
  /** The MQTT 3.1.x CONNACK return code, when the refusal was one. */
  readonly returnCode: number | undefined;
  constructor(code: string, reasonCode: number, message: string, returnCode?: number) {
    super(code, message, { reasonCode });
    this.name = "RefusedError";
    this.returnCode = returnCode;
  }
}

/** The network failed: could not connect, or the connection broke. */
export class TransportError extends MqttError {
  constructor(message: string, cause?: unknown) {
    super("TRANSPORT_ERROR", message, { cause });
    this.name = "TransportError";
  }
}

/** An operation did not complete within its timeout. */
export class TimeoutError extends MqttError {
  constructor(message: string) {
    super("TIMEOUT", message);
    this.name = "TimeoutError";
  }
}

/** The operation was aborted through its AbortSignal. */
export class AbortError extends MqttError {
  constructor(message = "aborted", cause?: unknown) {
    super("ABORTED", message, { cause });
    this.name = "AbortError";
  }
}

/** The client was closed (by the caller, or because it gave up reconnecting) before the operation completed. */
export class ClosedError extends MqttError {
  constructor(message = "client closed", cause?: unknown) {
    super("CLOSED", message, { cause });
    this.name = "ClosedError";
  }
}
