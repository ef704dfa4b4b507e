/** The `starling` command line. */
import { Command } from "commander";
import { VERSION } from "../broker/index.js";
import { registerBroker } from "./broker.js";

const program = new Command();
program.name("starling").description("Starling: MQTT broker and tools").version(VERSION);
registerBroker(program);
await program.parseAsync(process.argv);
