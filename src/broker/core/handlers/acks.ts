/**
 * PUBACK, PUBREC and PUBCOMP from a client: the acknowledgements of QoS 1
 * and QoS 2 messages the broker sent (§4.3.2, §4.3.3). Each frees its packet
 * id and lets the session send what is queued.
 */
import type { PubackPacket, PubcompPacket, PubrecPacket } from "../../../protocol/index.js";
import { ReasonCode } from "../../../protocol/index.js";
import type { Client } from "../client.js";

export function handlePuback(client: Client, packet: PubackPacket): void {
  const session = client.session;
  if (session === null) return;
  const d = session.inflight.get(packet.packetId);
  // An unknown id is ignored: it may answer a message re-sent after a reconnect.
  if (d === undefined || d.qos !== 1) return;
  session.inflight.delete(packet.packetId);
  if (session.stored) client.core.persistence?.deleteInflight(session, packet.packetId);
  client.pump();
}

export function handlePubrec(client: Client, packet: PubrecPacket): void {
  const session = client.session;
  if (session === null) return;
  const d = session.inflight.get(packet.packetId);
  if (d === undefined || d.qos !== 2) {
    // §4.3.3: PUBREL with Packet Identifier not found (5.0).
    client.send(
      client.version === 5
        ? {
            type: "pubrel",
            packetId: packet.packetId,
            reasonCode: ReasonCode.PacketIdentifierNotFound,
          }
        : { type: "pubrel", packetId: packet.packetId },
    );
    return;
  }
  if ((packet.reasonCode ?? 0) >= 0x80) {
    // A failed PUBREC ends the exchange; the packet id is free (§4.3.3).
    session.inflight.delete(packet.packetId);
    if (session.stored) client.core.persistence?.deleteInflight(session, packet.packetId);
    client.pump();
    return;
  }
  d.state = "pubrel";
  if (!session.stored) {
    client.send({ type: "pubrel", packetId: packet.packetId });
    return;
  }
  // PUBREL once the released state is durable: a crash before it must not re-send the
  // PUBLISH of a message the client may already have passed on [MQTT-4.3.3-10].
  client.core.persistence?.putInflight(session, d);
  client.ackAfterCommit({ type: "pubrel", packetId: packet.packetId });
}

export function handlePubcomp(client: Client, packet: PubcompPacket): void {
  const session = client.session;
  if (session === null) return;
  const d = session.inflight.get(packet.packetId);
  if (d === undefined || d.state !== "pubrel") return;
  session.inflight.delete(packet.packetId);
  if (session.stored) client.core.persistence?.deleteInflight(session, packet.packetId);
  client.pump();
}
