/**
 * The one place a decoded packet meets its handler. Handlers throw
 * ProtocolError for a violation; the client turns it into the DISCONNECT or
 * CONNACK the spec names (Client.protocolViolation).
 */
import { type Packet, protocolError } from "../../protocol/index.js";
import type { Client } from "./client.js";
import { handlePuback, handlePubcomp, handlePubrec } from "./handlers/acks.js";
import { handleAuth } from "./handlers/auth.js";
import { handleConnect } from "./handlers/connect.js";
import { handleDisconnect } from "./handlers/disconnect.js";
import { handlePublish } from "./handlers/publish.js";
import { handlePubrel } from "./handlers/pubrel.js";
import { handleSubscribe } from "./handlers/subscribe.js";
import { handleUnsubscribe } from "./handlers/unsubscribe.js";

export function dispatch(client: Client, packet: Packet): void {
  if (client.state === "new") {
    // The first packet from the client must be CONNECT [MQTT-3.1.0-1].
    if (packet.type !== "connect")
      throw protocolError(
        "MQTT-3.1.0-1",
        `first packet must be CONNECT, got ${packet.type.toUpperCase()}`,
      );
    handleConnect(client, packet);
    return;
  }
  if (client.state === "authenticating") {
    if (packet.type === "auth") {
      handleAuth(client, packet);
      return;
    }
    if (packet.type === "disconnect") {
      handleDisconnect(client, packet);
      return;
    }
    throw protocolError("§4.12", `${packet.type.toUpperCase()} during enhanced authentication`);
  }
  switch (packet.type) {
    case "publish":
      handlePublish(client, packet);
      return;
    case "puback":
      handlePuback(client, packet);
      return;
    case "pubrec":
      handlePubrec(client, packet);
      return;
    case "pubrel":
      handlePubrel(client, packet);
      return;
    case "pubcomp":
      handlePubcomp(client, packet);
      return;
    case "subscribe":
      handleSubscribe(client, packet);
      return;
    case "unsubscribe":
      handleUnsubscribe(client, packet);
      return;
    case "pingreq":
      client.send({ type: "pingresp" });
      return;
    case "disconnect":
      handleDisconnect(client, packet);
      return;
    case "auth":
      handleAuth(client, packet);
      return;
    case "connect":
      // A second CONNECT is a Protocol Error [MQTT-3.1.0-2].
      throw protocolError("MQTT-3.1.0-2", "second CONNECT on one connection");
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP are sent only by servers.
      throw protocolError("§3", `a client must not send ${packet.type.toUpperCase()}`);
  }
}
