/** The broker's own limits on topic names and filters (on top of the spec's 65,535 bytes). */
import { utf8Length } from "../../protocol/index.js";
import type { BrokerLimits } from "./options.js";

/** Whether `topic` fits `maxTopicLength` (UTF-8 bytes) and `maxTopicLevels`. */
export function withinTopicLimits(topic: string, limits: BrokerLimits): boolean {
  const n = topic.length;
  // UTF-16 units ≤ UTF-8 bytes ≤ 3 × units: count bytes only when it can matter.
  if (n > limits.maxTopicLength) return false;
  if (n * 3 > limits.maxTopicLength && utf8Length(topic) > limits.maxTopicLength) return false;
  let levels = 1;
  for (let i = 0; i < n; i++) {
    if (topic.charCodeAt(i) === 0x2f && ++levels > limits.maxTopicLevels) return false;
  }
  return true;
}
