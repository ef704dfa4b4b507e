/**
 * The header `starling bench pub` writes at the start of every payload, read
 * back by `starling bench sub` for end-to-end latency and for counting lost
 * and duplicated messages. All integers big-endian:
 *
 * | offset | bytes | field |
 * |---|---|---|
 * | 0 | 4 | magic `SBH1` (0x53 0x42 0x48 0x31) |
 * | 4 | 8 | send time: microseconds since the Unix epoch, u64 (`performance.timeOrigin + performance.now()`) |
 * | 12 | 4 | run id: random u32 per `bench pub` process |
 * | 16 | 4 | publisher index (the `%i` of the publishing client), u32 |
 * | 20 | 4 | sequence number per publisher, u32, from 0 |
 *
 * The rest of the payload is zeros. Payloads without the magic (other
 * publishers, or `-s` below {@link HEADER_SIZE}) are counted but give no
 * latency.
 */
import { performance } from "node:perf_hooks";

export const HEADER_SIZE = 24;
const MAGIC = [0x53, 0x42, 0x48, 0x31] as const;
const TWO_32 = 0x1_0000_0000;

/** When this process started, in milliseconds since the epoch (a constant; the getter is slow). */
const ORIGIN = performance.timeOrigin;

/** Now, in microseconds since the Unix epoch, with sub-millisecond resolution. */
export function nowMicros(): number {
  return (ORIGIN + performance.now()) * 1000;
}

function writeU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

/** A payload of `size` zero bytes whose header carries `runId` and `publisher` (when it fits). */
export function makePayload(size: number, runId: number, publisher: number): Uint8Array {
  const buf = new Uint8Array(size);
  if (size >= HEADER_SIZE) {
    buf.set(MAGIC, 0);
    writeU32(buf, 12, runId);
    writeU32(buf, 16, publisher);
  }
  return buf;
}

/**
 * Writes the send time and sequence number into a payload made by
 * {@link makePayload} (at offset `at` of `buf`), in place: no allocation.
 * Precondition: the payload has room for the header.
 */
export function stamp(buf: Uint8Array, seq: number, micros: number, at = 0): void {
  const t = Math.floor(micros);
  writeU32(buf, at + 4, Math.floor(t / TWO_32));
  writeU32(buf, at + 8, t % TWO_32);
  writeU32(buf, at + 20, seq);
}

/** Whether `buf` starts with a bench header. */
export function hasHeader(buf: Uint8Array): boolean {
  return (
    buf.length >= HEADER_SIZE &&
    buf[0] === MAGIC[0] &&
    buf[1] === MAGIC[1] &&
    buf[2] === MAGIC[2] &&
    buf[3] === MAGIC[3]
  );
}

/** The send time of a payload with a header, in microseconds since the epoch. */
export function sentAt(buf: Uint8Array): number {
  return readU32(buf, 4) * TWO_32 + readU32(buf, 8);
}

/** Publisher indexes must stay below this so (run id, publisher) fits one exact number. */
export const MAX_PUBLISHER = 0x20_0000;

/**
 * Counts, per stream of messages (one publisher of one `bench pub` run), the
 * duplicates and the gaps. A stream's expected messages are the sequence
 * numbers from the lowest to the highest received; `lost` is how many of
 * those never arrived. A duplicate is recognised when it comes within 64
 * sequence numbers of the highest received so far (beyond that it counts as
 * a late arrival).
 */
export class StreamTracker {
  /** key → [lowest, highest, window bits 0-31 below highest, bits 32-63]. */
  readonly #streams = new Map<number, Float64Array>();
  duplicates = 0;
  /** Messages that arrived after a higher sequence number of the same stream. */
  reordered = 0;
  #missing = 0;

  get streams(): number {
    return this.#streams.size;
  }

  /** Sequence numbers missing between the lowest and highest received, over all streams. */
  get lost(): number {
    return Math.max(0, this.#missing);
  }

  /** Notes the header of `buf` (which {@link hasHeader}); returns false for a duplicate. */
  note(buf: Uint8Array): boolean {
    const key = readU32(buf, 12) * MAX_PUBLISHER + (readU32(buf, 16) % MAX_PUBLISHER);
    const seq = readU32(buf, 20);
    const s = this.#streams.get(key);
    if (s === undefined) {
      const fresh = new Float64Array(4);
      fresh[0] = seq;
      fresh[1] = seq;
      fresh[2] = 1; // bit 0: the highest itself
      this.#streams.set(key, fresh);
      return true;
    }
    const high = s[1];
    if (seq > high) {
      const d = seq - high;
      this.#missing += d - 1;
      shift(s, d);
      s[1] = seq;
      s[2] = (s[2] | 1) >>> 0;
      return true;
    }
    const back = high - seq;
    if (back < 64) {
      const word = back < 32 ? 2 : 3;
      const bits = s[word] >>> 0;
      if ((bits >>> (back % 32)) & 1) {
        this.duplicates++;
        return false;
      }
      s[word] = (bits | (1 << (back % 32))) >>> 0;
    }
    this.reordered++;
    if (seq < s[0]) {
      // Before the lowest seen: the expected range grows to include it.
      this.#missing += s[0] - seq - 1;
      s[0] = seq;
    } else this.#missing--;
    return true;
  }
}

/** Moves the 64-bit window `d` places towards older sequence numbers. */
function shift(s: Float64Array, d: number): void {
  if (d >= 64) {
    s[2] = 0;
    s[3] = 0;
    return;
  }
  const lo = s[2] >>> 0;
  const hi = s[3] >>> 0;
  if (d >= 32) {
    s[3] = d === 32 ? lo : (lo << (d - 32)) >>> 0;
    s[2] = 0;
    return;
  }
  s[3] = ((hi << d) | (lo >>> (32 - d))) >>> 0;
  s[2] = (lo << d) >>> 0;
}
