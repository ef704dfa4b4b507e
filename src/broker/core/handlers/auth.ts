/** AUTH (§3.15, §4.12): continues enhanced authentication, or re-authenticates a connected client. */
import { type AuthPacket, protocolError, ReasonCode } from "../../../protocol/index.js";
import type { Client } from "../client.js";
import { onAuthStep } from "./connect.js";

export function handleAuth(client: Client, packet: AuthPacket): void {
  const method = packet.properties?.authenticationMethod;
  // The method must be the one CONNECT named (§4.12).
  if (client.authMethod === undefined || method !== client.authMethod) {
    throw protocolError("§4.12", "AUTH without the authentication method of CONNECT");
  }
  const enhanced = client.core.enhancedAuth.get(method);
  if (enhanced === undefined || client.authInfo === undefined)
    throw protocolError("§4.12", "no authentication in progress");
  const info = client.authInfo;
  const data = packet.properties?.authenticationData;
  if (client.state === "authenticating") {
    if (packet.reasonCode !== ReasonCode.ContinueAuthentication)
      throw protocolError("§4.12", "expected AUTH 0x18 during authentication");
  } else if (
    packet.reasonCode !== ReasonCode.ReAuthenticate &&
    packet.reasonCode !== ReasonCode.ContinueAuthentication
  ) {
    throw protocolError("§4.12.1", "re-authentication must start with AUTH 0x19");
  }
  const step =
    packet.reasonCode === ReasonCode.ReAuthenticate
      ? enhanced.start(info, data)
      : enhanced.continue(info, data);
  const handle = (s: Awaited<typeof step>) => onAuthStep(client, undefined, s, false);
  if (step instanceof Promise)
    step.then(handle, () =>
      client.disconnect(ReasonCode.UnspecifiedError, "authentication failed"),
    );
  else handle(step);
}
