/** UNSUBSCRIBE (§3.10): removes subscriptions and answers UNSUBACK, with per-filter reason codes in 5.0. */
import { type Packet, ReasonCode, type UnsubscribePacket } from "../../../protocol/index.js";
import type { Client } from "../client.js";

export function handleUnsubscribe(client: Client, packet: UnsubscribePacket): void {
  const session = client.session;
  if (session === null) return;
  const reasonCodes: number[] = [];
  for (const filter of packet.topicFilters) {
    const sub = session.subscriptions.get(filter);
    if (sub === undefined) {
      reasonCodes.push(ReasonCode.NoSubscriptionExisted);
      continue;
    }
    session.subscriptions.delete(filter);
    client.core.router.remove(session, sub);
    reasonCodes.push(ReasonCode.Success);
  }
  // [MQTT-3.10.4-4]: UNSUBACK even when nothing was removed.
  const unsuback: Packet =
    client.version === 5
      ? { type: "unsuback", packetId: packet.packetId, reasonCodes }
      : { type: "unsuback", packetId: packet.packetId };
  if (session.stored) {
    client.core.saveSession(session);
    client.ackAfterCommit(unsuback);
  } else client.send(unsuback);
}
