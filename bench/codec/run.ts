/**
 * `npm run bench:codec`: the codec against mqtt-packet and the subscription
 * trie, printed as markdown ready for bench/RESULTS.md. A benchmark, not a
 * test: numbers on this shared machine move by tens of percent between runs,
 * which is why the codec variants run interleaved and report medians.
 */
import { cpus, totalmem } from "node:os";
import { codecTable, runCodecBench } from "./codec.js";
import { formatTrieTable, runTrieBench } from "./trie.js";

const started = Date.now();
const cpu = cpus();
console.log(`### Codec and trie — ${new Date().toISOString().slice(0, 10)}`);
console.log("");
console.log(
  `Node ${process.version}, ${cpu[0]?.model ?? "unknown CPU"} × ${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; mqtt-packet 9.0.2; command: \`npm run bench:codec\``,
);
console.log("");
console.log(codecTable(runCodecBench()));
console.log("");
console.log(
  "\\* header only: Starling's `encodePublishHeader` (the payload is written after it, uncopied — the broker's fan-out path) against mqtt-packet's whole-packet `generate`.",
);
console.log("");
console.log(formatTrieTable(await runTrieBench()));
console.log("");
console.log(`Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
