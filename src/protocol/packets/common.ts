/**
 * Pieces shared by the packet modules: the allocator type, fixed-header
 * writing, and statement ids that differ between protocol versions.
 */
import { MAX_REMAINING_LENGTH, type ProtocolVersion } from "../constants.js";
import { InvalidArgumentError } from "../errors.js";
import { varintLength, writeVarint } from "../wire.js";

/** Allocates the bytes of one encoded packet. Node callers pass `Buffer.allocUnsafe`. */
export type Alloc = (size: number) => Uint8Array;

/** Default allocator: a zero-filled Uint8Array (works in every runtime). */
export const defaultAlloc: Alloc = (size) => new Uint8Array(size);

/**
 * Allocates a packet of `remaining` bytes after the fixed header, writes the
 * fixed header (type and flags byte, Remaining Length), and returns the buffer
 * and the position after the header.
 */
export function startPacket(
  alloc: Alloc,
  firstByte: number,
  remaining: number,
): { buf: Uint8Array; pos: number } {
  if (remaining > MAX_REMAINING_LENGTH) {
    throw new InvalidArgumentError(
      `packet needs a Remaining Length of ${remaining}, more than the ${MAX_REMAINING_LENGTH} MQTT allows`,
    );
  }
  const buf = alloc(1 + varintLength(remaining) + remaining);
  buf[0] = firstByte;
  return { buf, pos: writeVarint(buf, 1, remaining) };
}

/** The statement id that applies to `version`: 3.1.1's numbering, or 5.0's. */
export function sid(version: ProtocolVersion, v4: string, v5: string): string {
  return version === 5 ? v5 : v4;
}

export function checkPacketId(id: unknown, packet: string): number {
  if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw new InvalidArgumentError(
      `${packet} needs a packet identifier in 1..65535, got ${String(id)}`,
    );
  }
  return id;
}

export function checkU16(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new InvalidArgumentError(`${what} must be an integer in 0..65535, got ${String(v)}`);
  }
  return v;
}

/** Byte length of a UTF-8 string field with its 2-byte prefix, refusing strings too long for it. */
export function stringFieldLength(byteLength: number, what: string): number {
  if (byteLength > 0xffff) {
    throw new InvalidArgumentError(
      `${what} is ${byteLength} bytes; MQTT strings hold at most 65535`,
    );
  }
  return 2 + byteLength;
}

/**
 * An allocator that carves packets out of larger slabs, so encoding many
 * packets costs one allocation per slab instead of one per packet (Node's
 * own Buffer pool does this only below 4 KiB). Packets larger than a quarter
 * of a slab get their own allocation. Each returned buffer is exclusively the
 * caller's; a slab is freed when no packet carved from it is referenced.
 *
 * @param slabSize bytes per slab (default 64 KiB)
 * @param newSlab allocates a slab; in Node pass `Buffer.allocUnsafeSlow` to get Buffers
 */
export function createSlabAlloc(slabSize = 65_536, newSlab: Alloc = defaultAlloc): Alloc {
  let slab = newSlab(slabSize);
  let offset = 0;
  const limit = slabSize >>> 2;
  return (size) => {
    if (size > limit) return newSlab(size);
    if (offset + size > slabSize) {
      slab = newSlab(slabSize);
      offset = 0;
    }
    const out = slab.subarray(offset, offset + size);
    offset = (offset + size + 7) & ~7; // keep slices 8-byte aligned
    return out;
  };
}
