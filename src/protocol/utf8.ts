/**
 * UTF-8 for MQTT strings (§1.5.4 of 5.0, §1.5.3 of 3.1.1), with no Node
 * built-ins so the browser bundle can use it.
 *
 * Decoding is strict: ill-formed sequences, over-long forms, encoded
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF are rejected
 * [MQTT-1.5.4-1], and so is U+0000 [MQTT-1.5.4-2]. A BOM (EF BB BF) is kept as
 * U+FEFF, never stripped [MQTT-1.5.4-3]. Code points the spec only says SHOULD
 * NOT appear (controls, non-characters) are accepted, as Mosquitto does.
 */

const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
const textEncoder = new TextEncoder();

/** Result of {@link checkUtf8}: ok, or why not. */
export const Utf8Check = { Ok: 0, IllFormed: 1, Null: 2 } as const;
export type Utf8Check = (typeof Utf8Check)[keyof typeof Utf8Check];

/**
 * Checks that `buf[start..end)` is well-formed UTF-8 with no U+0000.
 * Runs over ASCII at one comparison a byte.
 */
export function checkUtf8(
  buf: Uint8Array,
  start: number,
  end: number,
  allowNull = false,
): Utf8Check {
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b < 0x80) {
      if (b === 0 && !allowNull) return Utf8Check.Null;
      i++;
      continue;
    }
    if (b < 0xc2) return Utf8Check.IllFormed; // continuation byte or over-long 2-byte lead
    if (b < 0xe0) {
      if (i + 1 >= end || (buf[i + 1] & 0xc0) !== 0x80) return Utf8Check.IllFormed;
      i += 2;
      continue;
    }
    if (b < 0xf0) {
      if (i + 2 >= end) return Utf8Check.IllFormed;
      const b1 = buf[i + 1];
      if ((b1 & 0xc0) !== 0x80 || (buf[i + 2] & 0xc0) !== 0x80) return Utf8Check.IllFormed;
      if (b === 0xe0 && b1 < 0xa0) return Utf8Check.IllFormed; // over-long
      if (b === 0xed && b1 >= 0xa0) return Utf8Check.IllFormed; // surrogate U+D800..U+DFFF
      i += 3;
      continue;
    }
    if (b < 0xf5) {
      if (i + 3 >= end) return Utf8Check.IllFormed;
      const b1 = buf[i + 1];
      if ((b1 & 0xc0) !== 0x80 || (buf[i + 2] & 0xc0) !== 0x80 || (buf[i + 3] & 0xc0) !== 0x80) {
        return Utf8Check.IllFormed;
      }
      if (b === 0xf0 && b1 < 0x90) return Utf8Check.IllFormed; // over-long
      if (b === 0xf4 && b1 >= 0x90) return Utf8Check.IllFormed; // above U+10FFFF
      i += 4;
      continue;
    }
    return Utf8Check.IllFormed;
  }
  return Utf8Check.Ok;
}

/** Whether `buf[start..end)` is well-formed UTF-8; U+0000 is allowed, as a payload may hold it. */
export function isWellFormedUtf8(buf: Uint8Array, start = 0, end = buf.length): boolean {
  return checkUtf8(buf, start, end, true) === Utf8Check.Ok;
}

/**
 * Decodes `buf[start..end)`, which the caller has already checked with
 * {@link checkUtf8}.
 */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  const len = end - start;
  if (len === 0) return "";
  if (len <= 16) {
    // Short ASCII strings (most topic levels, property names) are built faster
    // by hand than through TextDecoder's call overhead.
    let s = "";
    for (let i = start; i < end; i++) {
      const b = buf[i];
      if (b >= 0x80) return textDecoder.decode(buf.subarray(start, end));
      s += String.fromCharCode(b);
    }
    return s;
  }
  return textDecoder.decode(buf.subarray(start, end));
}

/**
 * Byte length of `s` in UTF-8. A lone surrogate counts 3 bytes (it is
 * encoded as U+FFFD); callers that must not send one check
 * {@link hasLoneSurrogate} first.
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 2; // 4 bytes for 2 UTF-16 units
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Whether `s` holds a lone UTF-16 surrogate, which has no UTF-8 form [MQTT-1.5.4-1]. */
export function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}

/**
 * Writes `s` (whose UTF-8 length is `byteLength`) at `buf[pos]`, returning
 * the position after it.
 */
export function writeUtf8(buf: Uint8Array, pos: number, s: string, byteLength: number): number {
  const n = s.length;
  if (byteLength === n) {
    for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
    return pos + n;
  }
  textEncoder.encodeInto(s, buf.subarray(pos, pos + byteLength));
  return pos + byteLength;
}

/** Encodes a string to a new Uint8Array. */
export function encodeUtf8(s: string): Uint8Array {
  return textEncoder.encode(s);
}
