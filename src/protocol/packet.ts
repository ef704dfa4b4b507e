/** The packet model: a discriminated union on `type` of all 15 control packets. */
import type {
  AckPacket,
  PubackPacket,
  PubcompPacket,
  PubrecPacket,
  PubrelPacket,
} from "./packets/ack.js";
import type { AuthPacket } from "./packets/auth.js";
import type { ConnackPacket } from "./packets/connack.js";
import type { ConnectPacket, Will } from "./packets/connect.js";
import type { DisconnectPacket } from "./packets/disconnect.js";
import type { PingreqPacket, PingrespPacket } from "./packets/ping.js";
import type { PublishPacket } from "./packets/publish.js";
import type { SubackPacket } from "./packets/suback.js";
import type { SubscribePacket, Subscription } from "./packets/subscribe.js";
import type { UnsubackPacket } from "./packets/unsuback.js";
import type { UnsubscribePacket } from "./packets/unsubscribe.js";

export type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  PingreqPacket,
  PingrespPacket,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
};

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The `type` names of the packet union. */
export type PacketName = Packet["type"];
