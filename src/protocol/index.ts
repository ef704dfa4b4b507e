/**
 * `starling/protocol`: the MQTT 3.1, 3.1.1 and 5.0 wire codec — packet model,
 * properties, reason codes, encoder, streaming decoder, topic validation and
 * the subscription trie. Imports nothing Node-only, so it runs in browsers.
 *
 * @example
 * ```ts
 * import { Decoder, encode } from "starling/protocol";
 * const bytes = encode({ type: "pingreq" }, 4);
 * new Decoder({ version: 4 }).push(bytes, (packet) => console.log(packet.type));
 * ```
 */
export * from "./client-codec.js";
export * from "./constants.js";
export * from "./decoder.js";
export * from "./encoder.js";
export * from "./errors.js";
export type * from "./packet.js";
export { protocolName, UnsupportedProtocolError } from "./packets/connect.js";
export * from "./properties.js";
export * from "./reason-codes.js";
export * from "./stream-decoder.js";
export * from "./topic.js";
export * from "./trie.js";
export { isWellFormedUtf8, utf8Length } from "./utf8.js";
