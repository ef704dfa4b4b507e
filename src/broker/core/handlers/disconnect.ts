/** DISCONNECT from a client (§3.14): the will is kept only for reason 0x04; 5.0 may change the session expiry. */
import { type DisconnectPacket, protocolError, ReasonCode } from "../../../protocol/index.js";
import type { Client } from "../client.js";

export function handleDisconnect(client: Client, packet: DisconnectPacket): void {
  const session = client.session;
  const expiry = packet.properties?.sessionExpiryInterval;
  if (expiry !== undefined && session !== null) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      // §3.14.2.2.2 (no statement id; [MQTT-3.14.2-2] is the server-side rule): a session that
      // was to end with the connection cannot be made to last. Not a valid DISCONNECT: the will stays.
      throw protocolError(
        "§3.14.2.2.2",
        "Session Expiry Interval set on DISCONNECT after CONNECT set 0",
      );
    }
    session.expiryInterval = expiry;
  }
  // [MQTT-3.14.4-3]: a DISCONNECT other than 0x04 deletes the will.
  client.normalDisconnect = (packet.reasonCode ?? 0) !== ReasonCode.DisconnectWithWillMessage;
  client.close(
    `client sent DISCONNECT${packet.reasonCode ? ` 0x${packet.reasonCode.toString(16)}` : ""}`,
  );
}
