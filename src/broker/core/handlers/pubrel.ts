/** PUBREL from a client (§3.6): releases an inbound QoS 2 packet id and answers PUBCOMP (§4.3.3 method B). */
import { type PubrelPacket, ReasonCode } from "../../../protocol/index.js";
import type { Client } from "../client.js";

export function handlePubrel(client: Client, packet: PubrelPacket): void {
  const session = client.session;
  if (session === null) return;
  const known = session.inboundQos2.delete(packet.packetId);
  if (known && session.stored) client.core.persistence?.deleteInboundQos2(session, packet.packetId);
  if (client.version === 5 && !known) {
    client.send({
      type: "pubcomp",
      packetId: packet.packetId,
      reasonCode: ReasonCode.PacketIdentifierNotFound,
    });
    return;
  }
  // After the release is committed: a client may reuse the id once it has PUBCOMP.
  client.ackAfterCommit({ type: "pubcomp", packetId: packet.packetId });
}
