/**
 * Encode and decode throughput of Starling's codec against mqtt-packet (the
 * codec of MQTT.js and Aedes), in the same process, interleaved.
 */
import mqttPacket from "mqtt-packet";
import {
  createSlabAlloc,
  Decoder,
  encode,
  encodePublishHeader,
  type Packet,
  type ProtocolVersion,
} from "../../src/protocol/index.js";
import { compare, fmtRate } from "../lib/measure.js";

// Starling encodes into 64 KiB slabs (what the broker's write path uses);
// mqtt-packet uses Buffer.allocUnsafe, i.e. Node's 8 KiB pool below 4 KiB.
const alloc = createSlabAlloc(65_536, (n) => Buffer.allocUnsafeSlow(n));

interface Case {
  name: string;
  version: ProtocolVersion;
  ours: Packet;
  theirs: Record<string, unknown>;
}

function publishCase(size: number, version: ProtocolVersion, qos: 0 | 1): Case {
  const payload = Buffer.alloc(size, 0x61);
  const topic = "sensors/building-7/floor-3/room-12/temperature";
  const properties =
    version === 5 ? { contentType: "application/json", messageExpiryInterval: 60 } : undefined;
  const ours: Packet = {
    type: "publish",
    topic,
    payload,
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { packetId: 42 } : {}),
    ...(properties ? { properties } : {}),
  };
  const theirs = {
    cmd: "publish",
    topic,
    payload,
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { messageId: 42 } : {}),
    ...(properties ? { properties } : {}),
  };
  return {
    name: `PUBLISH ${size < 1024 ? `${size} B` : `${size / 1024} KiB`} QoS ${qos}${properties ? " +props" : ""}`,
    version,
    ours,
    theirs,
  };
}

function subscribeCase(version: ProtocolVersion): Case {
  const filters = ["a/b/c", "sensors/+/temperature", "home/#", "$SYS/broker/load/#", "x/+/y/+/z"];
  return {
    name: "SUBSCRIBE 5 filters",
    version,
    ours: {
      type: "subscribe",
      packetId: 7,
      subscriptions: filters.map((f) => ({
        topicFilter: f,
        qos: 1 as const,
        ...(version === 5
          ? { noLocal: false, retainAsPublished: false, retainHandling: 0 as const }
          : {}),
      })),
    },
    theirs: {
      cmd: "subscribe",
      messageId: 7,
      subscriptions: filters.map((f) => ({
        topic: f,
        qos: 1,
        ...(version === 5 ? { nl: false, rap: false, rh: 0 } : {}),
      })),
    },
  };
}

function connectCase(version: ProtocolVersion): Case {
  const props = version === 5 ? { sessionExpiryInterval: 3600, receiveMaximum: 100 } : undefined;
  return {
    name: "CONNECT (will, user, password)",
    version,
    ours: {
      type: "connect",
      protocolVersion: version,
      clean: true,
      keepalive: 60,
      clientId: "sensor-gateway-0042",
      username: "gateway",
      password: Buffer.from("s3cret-passw0rd"),
      will: {
        topic: "gateways/0042/status",
        payload: Buffer.from("offline"),
        qos: 1,
        retain: true,
      },
      ...(props ? { properties: props } : {}),
    },
    theirs: {
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: version,
      clean: true,
      keepalive: 60,
      clientId: "sensor-gateway-0042",
      username: "gateway",
      password: Buffer.from("s3cret-passw0rd"),
      will: {
        topic: "gateways/0042/status",
        payload: Buffer.from("offline"),
        qos: 1,
        retain: true,
      },
      ...(props ? { properties: props } : {}),
    },
  };
}

/** A stream of `count` copies of `bytes`, cut into socket-sized chunks. */
function stream(bytes: Uint8Array, count: number, chunkSize = 65536): Buffer[] {
  const all = Buffer.concat(Array.from({ length: count }, () => bytes));
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += chunkSize) out.push(all.subarray(i, i + chunkSize));
  return out;
}

export interface CodecRow {
  case: string;
  version: string;
  op: string;
  ours: number;
  theirs: number;
  bytes: number;
}

export function runCodecBench(rounds = 7): CodecRow[] {
  const cases: Case[] = [];
  for (const v of [4, 5] as const) {
    cases.push(publishCase(16, v, 0), publishCase(256, v, 1), publishCase(4096, v, 1));
    cases.push(subscribeCase(v), connectCase(v));
  }
  const rows: CodecRow[] = [];
  for (const c of cases) {
    const bytes = encode(c.ours, c.version);
    const check = Buffer.from(
      mqttPacket.generate(c.theirs as never, { protocolVersion: c.version }),
    );
    if (!check.equals(Buffer.from(bytes))) {
      throw new Error(`${c.name} v${c.version}: the two encoders disagree; fix the case first`);
    }
    const verLabel = c.version === 5 ? "5.0" : "3.1.1";
    const opts = { protocolVersion: c.version };
    const enc = compare(
      [
        {
          name: "ours",
          run: (n) => {
            let x: Uint8Array | undefined;
            for (let i = 0; i < n; i++) x = encode(c.ours, c.version, alloc);
            return x;
          },
        },
        {
          name: "theirs",
          run: (n) => {
            let x: Buffer | undefined;
            for (let i = 0; i < n; i++) x = mqttPacket.generate(c.theirs as never, opts);
            return x;
          },
        },
      ],
      rounds,
    );
    rows.push({
      case: c.name,
      version: verLabel,
      op: "encode",
      ours: enc[0].opsPerSec,
      theirs: enc[1].opsPerSec,
      bytes: bytes.length,
    });

    const perStream = Math.max(16, Math.floor((256 << 10) / bytes.length));
    const chunks = stream(bytes, perStream);
    const decoderVersion = c.ours.type === "connect" ? undefined : c.version;
    const dec = compare(
      [
        {
          name: "ours",
          run: (n) => {
            let got = 0;
            const d = new Decoder(decoderVersion === undefined ? {} : { version: decoderVersion });
            const onPacket = () => {
              got++;
            };
            for (let i = 0; i < n; i++) for (const ch of chunks) d.push(ch, onPacket);
            return got;
          },
        },
        {
          name: "theirs",
          run: (n) => {
            let got = 0;
            const p = mqttPacket.parser(opts);
            p.on("packet", () => {
              got++;
            });
            p.on("error", (e: Error) => {
              throw e;
            });
            for (let i = 0; i < n; i++) for (const ch of chunks) p.parse(ch);
            return got;
          },
        },
      ],
      rounds,
    );
    // Each decode run processes whole streams of `perStream` packets.
    rows.push({
      case: c.name,
      version: verLabel,
      op: "decode",
      ours: dec[0].opsPerSec * perStream,
      theirs: dec[1].opsPerSec * perStream,
      bytes: bytes.length,
    });

    if (c.ours.type === "publish") {
      const pub = c.ours;
      const hdr = compare(
        [
          {
            name: "ours",
            run: (n) => {
              let x: Uint8Array | undefined;
              for (let i = 0; i < n; i++) x = encodePublishHeader(pub, c.version, alloc);
              return x;
            },
          },
          {
            name: "theirs",
            run: (n) => {
              let x: Buffer | undefined;
              for (let i = 0; i < n; i++) x = mqttPacket.generate(c.theirs as never, opts);
              return x;
            },
          },
        ],
        rounds,
      );
      rows.push({
        case: c.name,
        version: verLabel,
        op: "encode header only*",
        ours: hdr[0].opsPerSec,
        theirs: hdr[1].opsPerSec,
        bytes: bytes.length,
      });
    }
  }
  return rows;
}

export function codecTable(rows: CodecRow[]): string {
  const lines = [
    "| packet | MQTT | op | Starling pkt/s | mqtt-packet pkt/s | ratio | Starling MB/s | mqtt-packet MB/s |",
    "|---|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const mb = (ops: number) => ((ops * r.bytes) / 1e6).toFixed(1);
    lines.push(
      `| ${r.case} | ${r.version} | ${r.op} | ${fmtRate(r.ours)} | ${fmtRate(r.theirs)} | ${(r.ours / r.theirs).toFixed(2)}× | ${mb(r.ours)} | ${mb(r.theirs)} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(codecTable(runCodecBench()));
}
