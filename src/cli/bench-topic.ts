/** Topic templates of `starling bench`: `%i` is the client's index, `%c` its client id. */

/** Expands `%i` and `%c` in `template` for client `c` (emqtt-bench's placeholders). */
export function expandTopic(template: string, c: { index: number; id: string }): string {
  if (!template.includes("%")) return template;
  return template.replaceAll("%i", String(c.index)).replaceAll("%c", c.id);
}
