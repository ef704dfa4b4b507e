/**
 * The Node floor of the broker benchmark (`node bench/broker/node-floor.mjs
 * [--port N] [--workers N]`): NOT a broker, a measuring stick. The least a
 * Node process can do to pass the bench's scenarios, so that the cost Node
 * itself puts on every Node broker (sockets, streams, the event loop, V8's
 * heap per connection) can be told apart from Starling's own.
 *
 * Only `node:net` (and `node:cluster` with `--workers`), no MQTT library:
 *
 * - `net.createServer({ noDelay: true })` on 127.0.0.1 (Nagle off, as Starling);
 *   one listener per socket event shared by every connection (no closures
 *   per connection).
 * - Frames packets by their fixed header (remaining length varint); a frame
 *   split across chunks is kept until complete (the parts are concatenated
 *   once, when the last one arrives), several frames per chunk are handled
 *   in a loop.
 * - CONNECT → CONNACK accepted (`20 02 00 00`; for MQTT 5.0, protocol level 5,
 *   `20 03 00 00 00` with an empty property list). Nothing in the CONNECT is
 *   checked beyond its protocol level.
 * - SUBSCRIBE → SUBACK granting QoS 0 for every filter, packet id copied
 *   (5.0: an empty property list, and the SUBSCRIBE's own properties skipped).
 * - PINGREQ → PINGRESP. DISCONNECT → the connection is closed.
 * - PUBLISH QoS 0 → the frame as received, byte for byte (no re-encoding),
 *   to every connection subscribed to exactly that topic, or to a filter
 *   `prefix/#` that matches it (mqttload's fan-in subscribes to
 *   `mqttload/<run>/in/#`; each of a topic's levels is one more map lookup,
 *   only when such a filter exists). The publisher itself receives it too if
 *   subscribed.
 * - Writes are coalesced per connection: what one read's handling sends to a
 *   connection goes out once, on `process.nextTick` after that 'data'
 *   callback, as one `socket.write` (≤ 64 KiB copied into one buffer; more:
 *   corked writes, one writev) — as Starling's TCP transport does.
 *
 * What it does NOT do (any of which a broker must): `+` wildcards, `#`
 * anywhere but as the last level, `$` topic rules; QoS 1 and 2 (a PUBLISH
 * with QoS > 0 closes the connection); retained messages; UNSUBSCRIBE (closes
 * the connection); sessions, client ids, session takeover, will messages;
 * keepalive timeouts; authentication; validation of anything (UTF-8, flags,
 * packet order beyond "CONNECT first"); topic aliases or anything of 5.0
 * beyond the two empty property lists; translating a PUBLISH between 3.1.1
 * and 5.0 subscribers (forwarded as is); limits on packet size, connections,
 * subscriptions or queued bytes (no backpressure: a subscriber that does not
 * read makes this process buffer without bound); logging, metrics, $SYS,
 * persistence.
 *
 * `--workers N` (or `NODE_FLOOR_WORKERS=N`), N ≥ 2: node:cluster with
 * `cluster.schedulingPolicy = cluster.SCHED_NONE` — the primary creates the
 * listening socket and N workers accept from it themselves (the kernel
 * spreads the connections; the primary does not hand them out). Nothing is
 * routed between workers, so a subscriber only gets what publishers on its
 * own worker send: valid for the connection scenarios only, not pub/sub.
 *
 * Prints `listening PORT` once it accepts connections (with workers: once
 * every worker listens, followed by `workers PID,PID,…`); stops on
 * SIGTERM/SIGINT (the primary stops its workers; a worker whose primary is
 * gone exits as its IPC channel closes). A worker that dies takes the
 * primary down with it (exit code 1): a measuring stick that lost half its
 * connections must not report numbers.
 *
 * Plain JavaScript run by plain `node`, like aedes-server.mjs.
 */
import cluster from "node:cluster";
import { createServer } from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    workers: { type: "string", default: process.env.NODE_FLOOR_WORKERS ?? "1" },
  },
});
const port = Number(values.port);
const workers = Number(values.workers);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: ${values.port}`);
if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: ${values.workers}`);

/** Up to this many pending bytes are copied into one buffer; more go out as one writev. */
const COALESCE_BYTES = 64 * 1024;
const PINGRESP = Buffer.from([0xd0, 0x00]);
const CONNACK_311 = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const CONNACK_5 = Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]);

/** The connection state hung on each socket. */
const K = Symbol("floor");

/**
 * @typedef {{
 *   socket: import("node:net").Socket,
 *   connected: boolean,
 *   v5: boolean,
 *   parts: Buffer[] | null,
 *   partsLen: number,
 *   need: number,
 *   out: Buffer[],
 *   outLen: number,
 *   dirty: boolean,
 *   filters: string[],
 * }} Conn
 */

/** @type {Map<string, Conn[]>} topic → subscribers, exact match */
const exact = new Map();
/** @type {Map<string, Conn[]>} `prefix/#` → subscribers, keyed by `prefix` */
const multi = new Map();

/** @type {Conn[]} connections with pending output */
let dirty = [];
let scheduled = false;

/** @param {Conn} c @param {Buffer} buf */
function send(c, buf) {
  c.out.push(buf);
  c.outLen += buf.length;
  if (c.dirty) return;
  c.dirty = true;
  dirty.push(c);
  if (!scheduled) {
    scheduled = true;
    process.nextTick(flush);
  }
}

function flush() {
  scheduled = false;
  const list = dirty;
  dirty = [];
  for (const c of list) {
    c.dirty = false;
    const out = c.out;
    const bytes = c.outLen;
    c.out = [];
    c.outLen = 0;
    const socket = c.socket;
    if (socket.destroyed || !socket.writable) continue;
    if (out.length === 1) socket.write(out[0]);
    else if (bytes <= COALESCE_BYTES) socket.write(Buffer.concat(out, bytes));
    else {
      socket.cork();
      for (const b of out) socket.write(b);
      socket.uncork();
    }
  }
}

/** @param {Map<string, Conn[]>} map @param {string} key @param {Conn} c */
function add(map, key, c) {
  const list = map.get(key);
  if (list === undefined) map.set(key, [c]);
  else list.push(c);
}

/** @param {Map<string, Conn[]>} map @param {string} key @param {Conn} c */
function remove(map, key, c) {
  const list = map.get(key);
  if (list === undefined) return;
  const i = list.indexOf(c);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}

/** @param {Conn} c */
function drop(c) {
  for (const f of c.filters) {
    if (f === "#") remove(multi, "", c);
    else if (f.endsWith("/#")) remove(multi, f.slice(0, -2), c);
    else remove(exact, f, c);
  }
  c.filters = [];
}

/** @param {Buffer} frame @param {Conn[] | undefined} subs */
function forwardTo(frame, subs) {
  if (subs === undefined) return;
  for (let i = 0; i < subs.length; i++) send(subs[i], frame);
}

/**
 * One packet: its first byte `h`, its body `buf[s, e)`, the whole frame `buf[off, e)`.
 * @param {Conn} c @param {Buffer} buf @param {number} off @param {number} s @param {number} e
 * @returns {boolean} false when the connection was closed
 */
function packet(c, buf, off, s, e) {
  const h = buf[off];
  const type = h >> 4;
  if (!c.connected && type !== 1) return close(c);
  switch (type) {
    case 3: {
      // PUBLISH
      if ((h & 0x06) !== 0 || e - s < 2) return close(c);
      const topic = buf.latin1Slice(s + 2, s + 2 + ((buf[s] << 8) | buf[s + 1]));
      const frame = buf.subarray(off, e);
      forwardTo(frame, exact.get(topic));
      if (multi.size > 0) {
        forwardTo(frame, multi.get(""));
        for (let i = topic.indexOf("/"); i >= 0; i = topic.indexOf("/", i + 1)) {
          forwardTo(frame, multi.get(topic.slice(0, i)));
        }
        // `a/#` also matches `a` itself.
        forwardTo(frame, multi.get(topic));
      }
      return true;
    }
    case 1: {
      // CONNECT
      if (c.connected || e - s < 3) return close(c);
      const nameLen = (buf[s] << 8) | buf[s + 1];
      c.v5 = buf[s + 2 + nameLen] === 5;
      c.connected = true;
      send(c, c.v5 ? CONNACK_5 : CONNACK_311);
      return true;
    }
    case 8: {
      // SUBSCRIBE
      let p = s + 2;
      if (c.v5) {
        let props = 0;
        let mul = 1;
        let b;
        do {
          b = buf[p++];
          props += (b & 0x7f) * mul;
          mul *= 128;
        } while (b & 0x80 && p < e);
        p += props;
      }
      let granted = 0;
      while (p + 2 <= e) {
        const len = (buf[p] << 8) | buf[p + 1];
        const filter = buf.latin1Slice(p + 2, p + 2 + len);
        p += 3 + len; // length, filter, options
        granted++;
        if (c.filters.includes(filter)) continue;
        c.filters.push(filter);
        if (filter === "#") add(multi, "", c);
        else if (filter.endsWith("/#")) add(multi, filter.slice(0, -2), c);
        else add(exact, filter, c);
      }
      const head = c.v5 ? 3 : 2;
      const rl = head + granted;
      const lenBytes = rl < 128 ? 1 : rl < 16384 ? 2 : 3;
      const ack = Buffer.alloc(1 + lenBytes + rl); // QoS 0 codes are zeros
      ack[0] = 0x90;
      let q = 1;
      for (let n = rl; ; ) {
        const b = n & 0x7f;
        n >>= 7;
        ack[q++] = n > 0 ? b | 0x80 : b;
        if (n === 0) break;
      }
      ack[q] = buf[s];
      ack[q + 1] = buf[s + 1];
      send(c, ack);
      return true;
    }
    case 12:
      // PINGREQ
      send(c, PINGRESP);
      return true;
    default:
      // DISCONNECT (14) ends the connection; anything else is beyond this stick.
      return close(c);
  }
}

/** @param {Conn} c @returns {false} */
function close(c) {
  drop(c);
  c.socket.destroy();
  return false;
}

/** @this {import("node:net").Socket} @param {Buffer} chunk */
function onData(chunk) {
  /** @type {Conn} */
  const c = this[K];
  if (c.parts !== null) {
    c.parts.push(chunk);
    c.partsLen += chunk.length;
    if (c.need > 0 && c.partsLen < c.need) return;
    chunk = Buffer.concat(c.parts, c.partsLen);
    c.parts = null;
    c.partsLen = 0;
    c.need = 0;
  }
  const n = chunk.length;
  let off = 0;
  while (off < n) {
    // Fixed header: type byte, then 1–4 bytes of remaining length.
    let len = 0;
    let mul = 1;
    let i = off + 1;
    let complete = false;
    while (i < n && i <= off + 4) {
      const b = chunk[i++];
      len += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete) {
      if (i > off + 4) {
        close(c); // a fifth length byte: malformed
        return;
      }
      c.need = 0; // the header itself is incomplete
      break;
    }
    const end = i + len;
    if (end > n) {
      c.need = end - off;
      break;
    }
    if (!packet(c, chunk, off, i, end)) return;
    off = end;
  }
  if (off < n) {
    c.parts = [off === 0 ? chunk : chunk.subarray(off)];
    c.partsLen = n - off;
  }
}

/** @this {import("node:net").Socket} */
function onClose() {
  drop(this[K]);
}

function onError() {
  // 'close' follows.
}

/** @param {import("node:net").Socket} socket */
function onConnection(socket) {
  /** @type {Conn} */
  const c = {
    socket,
    connected: false,
    v5: false,
    parts: null,
    partsLen: 0,
    need: 0,
    out: [],
    outLen: 0,
    dirty: false,
    filters: [],
  };
  socket[K] = c;
  socket.on("data", onData);
  socket.on("close", onClose);
  socket.on("error", onError);
}

/** Listens; calls `ready(port)` once it does. */
function serve(ready) {
  const server = createServer({ noDelay: true }, onConnection);
  server.listen(port, "127.0.0.1", () => {
    const address = server.address();
    ready(typeof address === "object" && address ? address.port : 0);
  });
  return server;
}

if (workers === 1) {
  const server = serve((p) => process.stdout.write(`listening ${p}\n`));
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} else if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // Each worker listens on `port`; with port 0 the primary picks one and every worker gets it.
  let listening = 0;
  let stopping = false;
  const pids = [];
  for (let w = 0; w < workers; w++) {
    const worker = cluster.fork();
    pids.push(worker.process.pid);
    worker.on("listening", (address) => {
      if (++listening === workers) {
        process.stdout.write(`listening ${address.port}\nworkers ${pids.join(",")}\n`);
      }
    });
  }
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    process.stderr.write(`node-floor: worker ${worker.process.pid} exited (${code ?? signal})\n`);
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGKILL");
    process.exit(1);
  });
  const stop = () => {
    stopping = true;
    const all = Object.values(cluster.workers ?? {});
    let left = all.length;
    if (left === 0) process.exit(0);
    for (const w of all) {
      w?.process.once("exit", () => {
        if (--left === 0) process.exit(0);
      });
      w?.process.kill("SIGTERM");
    }
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} else {
  const server = serve(() => {});
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
