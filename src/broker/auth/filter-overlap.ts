/**
 * Set algebra on Topic Filters, for deciding a SUBSCRIBE against ACL entries
 * that are themselves filters: which topics two filters both match, and
 * whether one filter matches every topic another one does.
 *
 * Filters are given split into levels (`"a/+/#".split("/")`) and must be
 * valid (§4.7.1). Matching follows §4.7: `+` is exactly one level (possibly
 * empty), `#` is the parent level and any number below it, and a filter
 * starting with a wildcard matches no topic starting with `$` [MQTT-4.7.2-1].
 */

const isWildcard = (level: string): boolean => level === "+" || level === "#";

/** Whether one first level is a wildcard and the other a literal starting with `$` [MQTT-4.7.2-1]. */
function dollarApart(a: string, b: string): boolean {
  return (
    (isWildcard(a) && !isWildcard(b) && b.startsWith("$")) ||
    (isWildcard(b) && !isWildcard(a) && a.startsWith("$"))
  );
}

/**
 * A filter matching exactly the topics both `a` and `b` match, or undefined
 * when no topic matches both.
 *
 * @example
 * ```ts
 * filterIntersection("#".split("/"), "a/+".split("/")); // ["a", "+"]
 * filterIntersection("a/#".split("/"), "a".split("/")); // ["a"] (the parent level)
 * filterIntersection("+/x".split("/"), "$SYS/x".split("/")); // undefined
 * ```
 */
export function filterIntersection(
  a: readonly string[],
  b: readonly string[],
): string[] | undefined {
  if (dollarApart(a[0], b[0])) return undefined;
  const out: string[] = [];
  for (let i = 0; ; i++) {
    // `#` matches whatever the other filter has left, nothing included (its parent level).
    if (i < a.length && a[i] === "#") return out.concat(b.slice(i));
    if (i < b.length && b[i] === "#") return out.concat(a.slice(i));
    if (i === a.length || i === b.length) return a.length === b.length ? out : undefined;
    const x = a[i];
    const y = b[i];
    if (x === "+") out.push(y);
    else if (y === "+" || x === y) out.push(x);
    else return undefined;
  }
}

/**
 * Whether `outer` matches every topic `inner` matches.
 *
 * @example
 * ```ts
 * filterCovers("a/#".split("/"), "a/+/b".split("/")); // true
 * filterCovers("a/+".split("/"), "a/#".split("/")); // false: a/# also matches a/b/c
 * ```
 */
export function filterCovers(outer: readonly string[], inner: readonly string[]): boolean {
  if (isWildcard(outer[0]) && !isWildcard(inner[0]) && inner[0].startsWith("$")) return false;
  for (let i = 0; ; i++) {
    if (i < outer.length && outer[i] === "#") return true;
    if (i === outer.length || i === inner.length) return outer.length === inner.length;
    const o = outer[i];
    const n = inner[i];
    if (n === "#") return false;
    if (o !== "+" && (n === "+" || o !== n)) return false;
  }
}
