/** Reconnect delays: exponential backoff with full jitter, capped, with a maximum number of attempts. */
import type { ReconnectPolicy } from "./options.js";
import { DEFAULTS } from "./options.js";

export interface Backoff {
  /** Delay before attempt `attempt` (1-based), or undefined when attempts are exhausted. */
  delay(attempt: number): number | undefined;
}

/**
 * Full jitter (a uniform delay between 0 and the exponential bound), as in
 * "Exponential Backoff and Jitter": spreads reconnecting clients so a broker
 * restart is not met by all of them at once.
 */
export function backoff(policy: ReconnectPolicy = {}): Backoff {
  const initial = policy.initialDelay ?? DEFAULTS.reconnect.initialDelay;
  const max = policy.maxDelay ?? DEFAULTS.reconnect.maxDelay;
  const factor = policy.factor ?? DEFAULTS.reconnect.factor;
  const maxAttempts = policy.maxAttempts ?? DEFAULTS.reconnect.maxAttempts;
  const random = policy.random ?? Math.random;
  return {
    delay(attempt) {
      if (attempt > maxAttempts) return undefined;
      const bound = Math.min(max, initial * factor ** (attempt - 1));
      return Math.floor(random() * bound);
    },
  };
}

/**
 * Whether reconnecting can help after a CONNACK refusal: only for a server
 * that is unavailable, busy or rate-limiting, or failed without saying why
 * (5.0: 0x88, 0x89, 0x9F, 0x97, 0x80; 3.1.x: return code 3). Bad credentials, bans, bad client ids and unsupported
 * protocols stay refused however often one asks.
 */
export function retryableRefusal(reasonCode: number): boolean {
  return (
    reasonCode === 0x88 ||
    reasonCode === 0x89 ||
    reasonCode === 0x9f ||
    reasonCode === 0x97 ||
    reasonCode === 0x80
  );
}
