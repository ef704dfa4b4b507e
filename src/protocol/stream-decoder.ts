/**
 * Streaming decoder core: bytes in chunks of any size → packets. Framing,
 * size limits and fixed-header checks live here; which packet bodies can be
 * decoded is up to the subclass — {@link Decoder} (every packet, for brokers
 * and tools) or `ClientDecoder` (only what a server sends, for the client
 * bundle).
 *
 * A packet lying inside one chunk is parsed in place: its payload, binary
 * fields and properties are slices of that chunk (so a Node `Buffer` chunk
 * gives `Buffer` slices). A packet spanning chunks is gathered into one
 * buffer, allocated only after its fixed header has been read and its size
 * checked against `maxPacketSize` — an oversized packet is refused before its
 * body is buffered. That buffer grows with the bytes that arrive (up to the
 * packet's exact size) rather than being sized from the header alone, so five
 * bytes announcing a 256 MiB packet cost 64 KiB, not 256 MiB.
 *
 * Bad input ends in a {@link ProtocolError} carrying the MQTT 5 reason code
 * and the spec statement; the decoder throws nothing else, and after an error
 * it refuses further input.
 */
import { MAX_PACKET_SIZE, PacketType, type ProtocolVersion } from "./constants.js";
import { ErrorCode, InvalidArgumentError, malformed, ProtocolError } from "./errors.js";
import type { Packet } from "./packet.js";
import { ReasonCode } from "./reason-codes.js";
import { NO_BYTES, Reader, STRING_RULES_V4, STRING_RULES_V5 } from "./wire.js";

export interface DecoderOptions {
  /**
   * Protocol level of the connection. A server leaves it unset: the decoder
   * reads 3.1.1 until a CONNECT names the level, then switches. A client sets
   * it to the level of the CONNECT it sent.
   */
  version?: ProtocolVersion;
  /** Largest whole packet accepted, in bytes (default: the protocol's maximum). */
  maxPacketSize?: number;
  /** Check payloads marked UTF-8 (Payload Format Indicator 1); default true. */
  validatePayloadFormat?: boolean;
}

/** Called with each decoded packet, in order. */
export type PacketHandler<P extends Packet = Packet> = (packet: P) => void;

export abstract class StreamDecoder<P extends Packet = Packet> {
  #version: ProtocolVersion;
  #maxPacketSize: number;
  /** Options the packet decoders take. */
  protected readonly opts: { validatePayloadFormat: boolean };
  #reader = new Reader();
  /** Fixed-header bytes of a packet whose header spans chunks (at most 5; made when first needed). */
  #head: Uint8Array | undefined;
  #headLen = 0;
  /** A packet spanning chunks: its bytes so far, filled up to #filled, growing to #total. */
  #partial: Uint8Array | null = null;
  #filled = 0;
  #total = 0;
  #error: ProtocolError | null = null;

  constructor(options: DecoderOptions = {}) {
    this.#version = options.version ?? 4;
    const max = options.maxPacketSize ?? MAX_PACKET_SIZE;
    if (!Number.isInteger(max) || max < 2) {
      throw new InvalidArgumentError(`maxPacketSize must be an integer ≥ 2, got ${String(max)}`);
    }
    this.#maxPacketSize = max;
    this.opts = { validatePayloadFormat: options.validatePayloadFormat ?? true };
    this.#reader.strings = this.#version === 5 ? STRING_RULES_V5 : STRING_RULES_V4;
  }

  /** The protocol level packets are decoded as. */
  get version(): ProtocolVersion {
    return this.#version;
  }

  set version(v: ProtocolVersion) {
    this.#version = v;
    this.#reader.strings = v === 5 ? STRING_RULES_V5 : STRING_RULES_V4;
  }

  get maxPacketSize(): number {
    return this.#maxPacketSize;
  }

  set maxPacketSize(n: number) {
    if (!Number.isInteger(n) || n < 2) {
      throw new InvalidArgumentError(`maxPacketSize must be an integer ≥ 2, got ${String(n)}`);
    }
    this.#maxPacketSize = n;
  }

  /** Bytes held for a packet not yet complete. */
  get buffered(): number {
    return this.#partial !== null ? this.#filled : this.#headLen;
  }

  /** The error that stopped this decoder, if any. */
  get error(): ProtocolError | null {
    return this.#error;
  }

  /**
   * Decodes `chunk`, calling `onPacket` for every packet it completes. On bad
   * input, throws a {@link ProtocolError} after delivering the packets before
   * it. `onPacket` should not throw; if it does, the error propagates and the
   * rest of the chunk is not decoded.
   */
  push(chunk: Uint8Array, onPacket: PacketHandler<P>): void {
    if (this.#error !== null) throw this.#error;
    try {
      this.#push(chunk, onPacket);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.#error = err;
        this.#partial = null;
        this.#headLen = 0;
      }
      throw err;
    }
  }

  /** Decodes `chunk` and returns the packets it completes (a convenience over {@link push}). */
  decodeAll(chunk: Uint8Array): P[] {
    const out: P[] = [];
    this.push(chunk, (p) => out.push(p));
    return out;
  }

  #push(chunk: Uint8Array, onPacket: PacketHandler<P>): void {
    let pos = 0;
    const end = chunk.length;
    if (this.#headLen > 0 || this.#partial !== null) {
      pos = this.#continue(chunk, onPacket);
      if (pos < 0) return;
    }
    while (pos < end) {
      // Fixed header: type/flags byte and Remaining Length (1–4 bytes).
      this.#checkFirstByte(chunk[pos]);
      let remaining = 0;
      let mult = 1;
      let i = pos + 1;
      let complete = false;
      for (; i < end && i <= pos + 4; i++) {
        const b = chunk[i];
        remaining += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          if (b === 0 && i > pos + 1) throw overlong(this.#version);
          complete = true;
          i++;
          break;
        }
      }
      if (!complete) {
        if (i > pos + 4) throw tooLongLength(this.#version);
        this.#head ??= new Uint8Array(5);
        this.#head.set(chunk.subarray(pos, end), 0);
        this.#headLen = end - pos;
        return;
      }
      const total = i - pos + remaining;
      this.#checkSize(total);
      if (pos + total <= end) {
        onPacket(this.#decodeAt(chunk, pos, i, pos + total));
        pos += total;
      } else {
        const partial = new Uint8Array(initialCapacity(total, end - pos));
        partial.set(chunk.subarray(pos, end), 0);
        this.#partial = partial;
        this.#total = total;
        this.#filled = end - pos;
        return;
      }
    }
  }

  /** Continues a packet begun in an earlier chunk; returns where the chunk's next packet starts, or -1. */
  #continue(chunk: Uint8Array, onPacket: PacketHandler<P>): number {
    let pos = 0;
    const end = chunk.length;
    if (this.#partial === null) {
      // Complete the fixed header a byte at a time.
      this.#head ??= new Uint8Array(5);
      const head = this.#head;
      while (this.#partial === null) {
        if (pos >= end) return -1;
        const b = chunk[pos++];
        const at = this.#headLen;
        head[this.#headLen++] = b;
        if ((b & 0x80) === 0) {
          if (b === 0 && at > 1) throw overlong(this.#version);
          let remaining = 0;
          let mult = 1;
          for (let k = 1; k < this.#headLen; k++) {
            remaining += (head[k] & 0x7f) * mult;
            mult *= 128;
          }
          const total = this.#headLen + remaining;
          this.#checkSize(total);
          const partial = new Uint8Array(initialCapacity(total, this.#headLen + end - pos));
          partial.set(head.subarray(0, this.#headLen), 0);
          this.#partial = partial;
          this.#total = total;
          this.#filled = this.#headLen;
          this.#headLen = 0;
        } else if (this.#headLen === 5) {
          throw tooLongLength(this.#version);
        }
      }
    }
    let partial = this.#partial;
    const total = this.#total;
    const take = Math.min(total - this.#filled, end - pos);
    const need = this.#filled + take;
    if (need > partial.length) {
      // Grow ×4 and jump to the exact size once a quarter has arrived: the
      // buffer never exceeds 4× the bytes received, the copies stay under
      // half the packet, and the last buffer is exact.
      const grown = new Uint8Array(need * 4 >= total ? total : Math.max(need, partial.length * 4));
      grown.set(partial.subarray(0, this.#filled), 0);
      partial = grown;
      this.#partial = grown;
    }
    partial.set(chunk.subarray(pos, pos + take), this.#filled);
    this.#filled = need;
    pos += take;
    if (need < total) return -1;
    this.#partial = null;
    this.#filled = 0;
    let bodyStart = 1;
    while ((partial[bodyStart] & 0x80) !== 0) bodyStart++;
    onPacket(this.#decodeAt(partial, 0, bodyStart + 1, total));
    return pos;
  }

  #checkSize(total: number): void {
    if (total > this.#maxPacketSize) {
      throw new ProtocolError(
        ErrorCode.PacketTooLarge,
        ReasonCode.PacketTooLarge,
        "§3.2.2.3.6",
        `packet of ${total} bytes exceeds the maximum packet size of ${this.#maxPacketSize}`,
      );
    }
  }

  /** Checks the type and reserved flag bits of a fixed header's first byte [MQTT-2.1.3-1]. */
  #checkFirstByte(b: number): void {
    const type = b >> 4;
    const flags = b & 0x0f;
    const v5 = this.#version === 5;
    switch (type) {
      case PacketType.PUBLISH:
        // Caught here, before the body is buffered; decodePublish checks the DUP rule.
        if ((flags & 0x06) === 0x06) throw malformed("MQTT-3.3.1-4", "PUBLISH must not have QoS 3");
        return;
      case PacketType.PUBREL:
      case PacketType.SUBSCRIBE:
      case PacketType.UNSUBSCRIBE:
        // MQTT 3.1 sent these with QoS 1 and could set DUP on a retry; 3.1.1 and 5.0 fix the flags at 0010.
        if (flags === 0x02 || (this.#version === 3 && (flags & 0x07) === 0x02)) return;
        break;
      case 0:
        throw malformed(v5 ? "§2.1.2" : "§2.2.1", "packet type 0 is reserved");
      case PacketType.AUTH:
        if (!v5) throw malformed("§2.2.1", "packet type 15 is reserved before MQTT 5");
        if (flags === 0) return;
        break;
      default:
        if (flags === 0) return;
    }
    throw malformed(
      v5 ? "MQTT-2.1.3-1" : "MQTT-2.2.2-1",
      `reserved flag bits 0x${flags.toString(16)} are wrong for packet type ${type}`,
    );
  }

  #decodeAt(buf: Uint8Array, start: number, bodyStart: number, end: number): P {
    const r = this.#reader;
    r.reset(buf, bodyStart, end);
    const packet = this.decodeBody(r, buf[start], buf, bodyStart, end);
    // Between packets the reader holds no chunk: an idle connection keeps no read buffer alive.
    r.buf = NO_BYTES;
    return packet;
  }

  /**
   * Decodes one packet's body: `r` spans the bytes after the fixed header,
   * `b0` is the header's first byte (type and flags, already checked).
   */
  protected abstract decodeBody(
    r: Reader,
    b0: number,
    buf: Uint8Array,
    bodyStart: number,
    end: number,
  ): P;
}

/**
 * First buffer for a packet of `total` bytes of which `have` are at hand:
 * all of it when small, else what is at hand and at least 64 KiB. A peer must
 * send the bytes to make the decoder hold them.
 */
function initialCapacity(total: number, have: number): number {
  return Math.min(total, Math.max(have, 65_536));
}

/**
 * 5.0 requires the fewest bytes [MQTT-1.5.5-1]; 3.1.1 has no such statement,
 * but its §2.2.3 encoding never produces a trailing 0x00 group, so the codec
 * refuses over-long forms there too.
 */
function overlong(version: ProtocolVersion): ProtocolError {
  return malformed(
    version === 5 ? "MQTT-1.5.5-1" : "§2.2.3",
    "Remaining Length uses more bytes than needed",
  );
}

/** "The maximum number of bytes in the Remaining Length field is four" (§2.2.3 of 3.1.1, §1.5.5 of 5.0). */
function tooLongLength(version: ProtocolVersion): ProtocolError {
  return malformed(version === 5 ? "§1.5.5" : "§2.2.3", "Remaining Length is longer than 4 bytes");
}
