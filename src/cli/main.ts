/** The `starling` command line. */
import { Command } from "commander";
import { VERSION } from "../broker/index.js";
import { registerBench } from "./bench.js";
import { registerBroker } from "./broker.js";
import { registerPasswd } from "./passwd.js";
import { registerPub } from "./pub.js";
import { registerRr } from "./rr.js";
import { registerStore } from "./store.js";
import { registerSub } from "./sub.js";

const program = new Command();
program.name("starling").description("Starling: MQTT broker and tools").version(VERSION);
// Options after a command name are that command's: `starling sub -V 5` is sub's -V, not --version.
program.enablePositionalOptions();
registerBroker(program);
registerPub(program);
registerSub(program);
registerRr(program);
registerPasswd(program);
registerStore(program);
registerBench(program);
await program.parseAsync(process.argv);
