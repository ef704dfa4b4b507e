/**
 * The `starling` command. Until the broker exists (issue 3) it reports what
 * is built and shows the codec at work on a round trip of one packet.
 */
import { Decoder, encode } from "../protocol/index.js";

function main(argv: string[]): number {
  const command = argv[0];
  if (command === "--version" || command === "-v") {
    console.log("starling 0.1.0");
    return 0;
  }
  const bytes = encode(
    {
      type: "publish",
      topic: "switches/kitchen/status",
      payload: new TextEncoder().encode("on"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
      properties: { contentType: "text/plain" },
    },
    5,
  );
  const [packet] = new Decoder({ version: 5 }).decodeAll(bytes);
  console.log("Starling — MQTT toolkit for TypeScript");
  console.log("Built so far: the MQTT 3.1 / 3.1.1 / 5.0 wire codec (starling/protocol).");
  console.log("The broker (`starling broker`) arrives with the broker issue.");
  console.log(`Codec round trip: ${bytes.length} bytes ->`, packet);
  return command === undefined || command === "info" ? 0 : unknown(command);
}

function unknown(command: string): number {
  console.error(`starling: unknown command ${JSON.stringify(command)}`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
