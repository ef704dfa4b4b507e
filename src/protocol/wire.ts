/**
 * Low-level reading and writing of the spec's data representations (§1.5):
 * integers, variable byte integers, UTF-8 strings and binary data. Reading
 * goes through one {@link Reader} per decoder, reset for every packet, and
 * reports overruns as Malformed Packet.
 */
import { malformed, type ProtocolError } from "./errors.js";
import { checkUtf8, decodeUtf8, Utf8Check } from "./utf8.js";

/**
 * Spec ids for the string rules differ between 3.1.1 and 5.0; so does the
 * section defining the Remaining Length, which a field running past the
 * packet's end (or bytes left over after its last field) contradicts.
 */
export interface StringRules {
  illFormed: string;
  nul: string;
  /** §2.1.4 (5.0) / §2.2.3 (3.1.1): Remaining Length. */
  length: string;
}
export const STRING_RULES_V5: StringRules = {
  illFormed: "MQTT-1.5.4-1",
  nul: "MQTT-1.5.4-2",
  length: "§2.1.4",
};
export const STRING_RULES_V4: StringRules = {
  illFormed: "MQTT-1.5.3-1",
  nul: "MQTT-1.5.3-2",
  length: "§2.2.3",
};

/** No bytes: what a {@link Reader} points at between packets (shared, never written). */
export const NO_BYTES = new Uint8Array(0);

/** A cursor over one packet's bytes `buf[pos..end)`. */
export class Reader {
  buf: Uint8Array = NO_BYTES;
  pos = 0;
  end = 0;
  strings: StringRules = STRING_RULES_V5;

  reset(buf: Uint8Array, pos: number, end: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.bound = "";
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /**
   * Statement for a read past `end`: the Remaining Length section, or §2.2.2.1
   * while `end` is the end of a property block (set by readProperties).
   */
  bound = "";

  #short(what: string): ProtocolError {
    return this.bound === ""
      ? malformed(this.strings.length, `packet too short: ${what} runs past the Remaining Length`)
      : malformed(this.bound, `${what} runs past the Property Length`);
  }

  u8(what: string): number {
    if (this.pos >= this.end) throw this.#short(what);
    return this.buf[this.pos++];
  }

  u16(what: string): number {
    const p = this.pos;
    if (p + 2 > this.end) throw this.#short(what);
    this.pos = p + 2;
    return (this.buf[p] << 8) | this.buf[p + 1];
  }

  u32(what: string): number {
    const p = this.pos;
    if (p + 4 > this.end) throw this.#short(what);
    this.pos = p + 4;
    const b = this.buf;
    return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  /** Variable Byte Integer (§1.5.5); over-long and 5-byte forms are malformed [MQTT-1.5.5-1]. */
  varint(what: string): number {
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) throw this.#short(what);
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) {
          throw malformed("MQTT-1.5.5-1", `${what} uses more bytes than needed`);
        }
        return value;
      }
      mult *= 128;
    }
    // §1.5.5: "The maximum number of bytes in the Variable Byte Integer field is four."
    throw malformed("§1.5.5", `${what} is longer than 4 bytes`);
  }

  /** UTF-8 Encoded String (§1.5.4): 2-byte length and well-formed UTF-8 without U+0000. */
  utf8(what: string): string {
    const len = this.u16(what);
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw this.#short(what);
    const check = checkUtf8(this.buf, start, end);
    if (check !== Utf8Check.Ok) {
      throw check === Utf8Check.Null
        ? malformed(this.strings.nul, `${what} contains U+0000`)
        : malformed(this.strings.illFormed, `${what} is not well-formed UTF-8`);
    }
    this.pos = end;
    return decodeUtf8(this.buf, start, end);
  }

  /** Binary Data (§1.5.6): 2-byte length and bytes, returned as a slice (no copy). */
  binary(what: string): Uint8Array {
    const len = this.u16(what);
    const start = this.pos;
    if (start + len > this.end) throw this.#short(what);
    this.pos = start + len;
    return this.buf.subarray(start, start + len);
  }

  /** The rest of the packet, as a slice. */
  rest(): Uint8Array {
    const out = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return out;
  }

  /** Asserts that the packet has been read to its end. */
  done(packet: string): void {
    if (this.pos !== this.end) {
      throw malformed(
        this.strings.length,
        `${packet} has ${this.end - this.pos} unexpected bytes at its end`,
      );
    }
  }
}

/** Bytes needed for `n` as a Variable Byte Integer. */
export function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Writes a Variable Byte Integer; the caller keeps `n` within {@link MAX_VARINT}. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    buf[pos++] = b;
  } while (n > 0);
  return pos;
}

export function writeU16(buf: Uint8Array, pos: number, n: number): number {
  buf[pos] = n >>> 8;
  buf[pos + 1] = n & 0xff;
  return pos + 2;
}

export function writeU32(buf: Uint8Array, pos: number, n: number): number {
  buf[pos] = n >>> 24;
  buf[pos + 1] = (n >>> 16) & 0xff;
  buf[pos + 2] = (n >>> 8) & 0xff;
  buf[pos + 3] = n & 0xff;
  return pos + 4;
}

export function writeBinary(buf: Uint8Array, pos: number, data: Uint8Array): number {
  pos = writeU16(buf, pos, data.length);
  buf.set(data, pos);
  return pos + data.length;
}
