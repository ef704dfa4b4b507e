/**
 * `/metrics` (Prometheus text format, prom-client), `/healthz` and
 * `/readyz`, served on the WebSocket listeners' HTTP port. Counters are read
 * from the core's {@link BrokerStats} when scraped, so the hot path only
 * increments plain numbers; gauges (queue depths, subscriptions, retained)
 * are computed at scrape time.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { BrokerCore } from "../core/broker-core.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A counter whose value is copied from the core's stats at each scrape. */
function mirroredCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => [Record<string, string>, number][],
): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const before = seen.get(key);
        // inc(0) the first time, so every series shows from the first scrape, zeros included.
        if (before === undefined || value > before) this.inc(labels, value - (before ?? 0));
        seen.set(key, value);
      }
    },
  });
}

export interface HttpEndpoints {
  handler: Handler;
  registry: Registry;
  /** Marks the broker not ready (shutting down): /readyz answers 503. */
  setReady(ready: boolean): void;
}

export function createHttpEndpoints(
  core: BrokerCore,
  options: { metrics: boolean },
): HttpEndpoints {
  const registry = new Registry();
  let ready = true;
  if (options.metrics) {
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
    const s = core.stats;
    const qos = (values: readonly number[]) =>
      values.map((v, i): [Record<string, string>, number] => [{ qos: String(i) }, v]);
    mirroredCounter(
      registry,
      "starling_connections_total",
      "Connections accepted (CONNACK success).",
      [],
      () => [[{}, s.clientsTotal]],
    );
    mirroredCounter(
      registry,
      "starling_connections_refused_total",
      "Connections refused (CONNACK failure or closed before).",
      [],
      () => [[{}, s.connectionsRefused]],
    );
    mirroredCounter(
      registry,
      "starling_auth_failures_total",
      "CONNECTs refused by authentication.",
      [],
      () => [[{}, s.authFailures]],
    );
    mirroredCounter(
      registry,
      "starling_messages_received_total",
      "PUBLISH packets received, by QoS.",
      ["qos"],
      () => qos(s.publishReceivedByQos),
    );
    mirroredCounter(
      registry,
      "starling_messages_sent_total",
      "PUBLISH packets sent, by QoS.",
      ["qos"],
      () => qos(s.publishSentByQos),
    );
    mirroredCounter(
      registry,
      "starling_bytes_received_total",
      "Bytes received from clients.",
      [],
      () => [[{}, s.bytesReceived]],
    );
    mirroredCounter(registry, "starling_bytes_sent_total", "Bytes sent to clients.", [], () => [
      [{}, s.bytesSent],
    ]);
    mirroredCounter(
      registry,
      "starling_messages_dropped_total",
      "Messages not delivered, by reason.",
      ["reason"],
      () =>
        Object.entries(s.dropped).map(([reason, n]): [Record<string, string>, number] => [
          { reason },
          n,
        ]),
    );
    mirroredCounter(
      registry,
      "starling_publish_denied_total",
      "PUBLISH refused by the ACL.",
      [],
      () => [[{}, s.publishDenied]],
    );
    mirroredCounter(
      registry,
      "starling_protocol_errors_total",
      "Connections closed for protocol errors.",
      [],
      () => [[{}, s.protocolErrors]],
    );
    new Gauge({
      name: "starling_connections",
      help: "Clients connected now.",
      registers: [registry],
      collect() {
        this.set(core.clients.size);
      },
    });
    new Gauge({
      name: "starling_sessions",
      help: "Sessions held (connected and offline persistent).",
      registers: [registry],
      collect() {
        this.set(core.sessions.size);
      },
    });
    new Gauge({
      name: "starling_subscriptions",
      help: "Subscriptions held.",
      registers: [registry],
      collect() {
        this.set(core.router.count);
      },
    });
    new Gauge({
      name: "starling_retained_messages",
      help: "Retained messages held.",
      registers: [registry],
      collect() {
        this.set(core.retained.size);
      },
    });
    new Gauge({
      name: "starling_retained_bytes",
      help: "Payload bytes of retained messages.",
      registers: [registry],
      collect() {
        this.set(core.retained.bytes);
      },
    });
    const depth = new Gauge({
      name: "starling_queued_messages",
      help: "Messages waiting in session queues (sum, and the deepest queue).",
      labelNames: ["stat"],
      registers: [registry],
      collect() {
        let sum = 0;
        let max = 0;
        for (const session of core.sessions.values()) {
          const n = session.queue.length;
          sum += n;
          if (n > max) max = n;
        }
        depth.set({ stat: "sum" }, sum);
        depth.set({ stat: "max" }, max);
      },
    });
    new Gauge({
      name: "starling_queued_bytes",
      help: "Payload bytes waiting in session queues.",
      registers: [registry],
      collect() {
        let sum = 0;
        for (const session of core.sessions.values()) sum += session.queue.bytes;
        this.set(sum);
      },
    });
  }

  const handler: Handler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("method not allowed\n");
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    if (path === "/readyz") {
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
      res.end(ready ? "ready\n" : "shutting down\n");
      return;
    }
    if (path === "/metrics" && options.metrics) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
        },
      );
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(
      "Starling MQTT broker: MQTT over WebSocket at the listener's path; /metrics, /healthz, /readyz\n",
    );
  };
  return {
    handler,
    registry,
    setReady: (r) => {
      ready = r;
    },
  };
}
