/**
 * Aedes 1.2 as the broker benchmark runs it (`node bench/broker/aedes-server.mjs`):
 * its defaults (in-memory persistence, mqemitter), `net.createServer(aedes.handle)`
 * on 127.0.0.1, port 0 unless given as the first argument. Prints one line,
 * `listening PORT`, once it accepts connections; stops on SIGTERM/SIGINT.
 *
 * Plain JavaScript run by plain `node`, so the broker process carries no
 * TypeScript loader (Starling runs from its compiled `dist/` too).
 */
import { createServer } from "node:net";
import { Aedes } from "aedes";

const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
});

const stop = () => {
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
