/**
 * Orders shared by every store, so that implementations list the same
 * things in the same order.
 */

/**
 * Compares two strings by Unicode code point, which is also the order of
 * their UTF-8 bytes (the order a byte-keyed database keeps). Plain `<`
 * compares UTF-16 code units and puts U+E000..U+FFFF after astral characters.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (D800..DFFF) stands for a code point above U+FFFF: it sorts
    // after every other BMP unit. Outside surrogates the unit is the code point.
    const sx = x >= 0xd800 && x <= 0xdfff;
    const sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
