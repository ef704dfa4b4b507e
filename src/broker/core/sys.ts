/**
 * `$SYS/broker/...` topics (as Mosquitto publishes them), retained, every
 * `intervalSeconds`.
 */
import type { BrokerCore } from "./broker-core.js";
import type { Message } from "./message.js";

export function sysTopics(core: BrokerCore, version: string): Record<string, string> {
  const s = core.stats;
  const mem = process.memoryUsage();
  let offline = 0;
  for (const session of core.sessions.values()) if (session.owner === null) offline++;
  return {
    "$SYS/broker/version": `starling ${version}`,
    "$SYS/broker/uptime": `${Math.floor((Date.now() - s.startedAt) / 1000)} seconds`,
    "$SYS/broker/clients/connected": String(s.clientsConnected),
    "$SYS/broker/clients/disconnected": String(offline),
    "$SYS/broker/clients/total": String(s.clientsConnected + offline),
    "$SYS/broker/clients/maximum": String(s.clientsMaximum),
    "$SYS/broker/messages/received": String(s.messagesReceived),
    "$SYS/broker/messages/sent": String(s.messagesSent),
    "$SYS/broker/bytes/received": String(s.bytesReceived),
    "$SYS/broker/bytes/sent": String(s.bytesSent),
    "$SYS/broker/publish/messages/received": String(s.publishReceived),
    "$SYS/broker/publish/messages/sent": String(s.publishSent),
    "$SYS/broker/publish/messages/dropped": String(s.publishDropped),
    "$SYS/broker/subscriptions/count": String(core.router.count),
    "$SYS/broker/retained messages/count": String(core.retained.size),
    "$SYS/broker/heap/current": String(mem.heapUsed),
    "$SYS/broker/memory/rss": String(mem.rss),
  };
}

/** Publishes the $SYS topics now and then every `intervalSeconds`; returns a stop function. */
export function startSys(core: BrokerCore, intervalSeconds: number, version: string): () => void {
  const encoder = new TextEncoder();
  const tick = () => {
    for (const [topic, value] of Object.entries(sysTopics(core, version))) {
      const msg: Message = {
        topic,
        payload: encoder.encode(value),
        qos: 0,
        retain: true,
        properties: undefined,
        expiresAt: 0,
        origin: "",
      };
      const old = core.retained.get(topic);
      if (old !== undefined && sameBytes(old.payload, msg.payload)) continue;
      core.retained.set(msg);
      core.publish(msg);
    }
  };
  // 0 disables $SYS altogether (BrokerOptions.sysInterval): nothing published, nothing retained.
  if (intervalSeconds <= 0) return () => {};
  tick();
  const timer = setInterval(tick, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
