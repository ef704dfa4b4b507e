/** Starting and stopping a broker on loopback ports chosen at run time. */
import { Broker, type BrokerOptions } from "../../src/broker/index.js";

/** A broker on 127.0.0.1 with a TCP and a WebSocket listener on free ports, $SYS off, logs silent. */
export function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  return Broker.start({
    listeners: [
      { type: "tcp", host: "127.0.0.1", port: 0 },
      { type: "ws", host: "127.0.0.1", port: 0, path: "/mqtt" },
    ],
    sysInterval: 0,
    ...options,
  });
}

export function tcpPort(broker: Broker): number {
  const l = broker.listeners.find((x) => x.type === "tcp");
  if (l === undefined) throw new Error("no TCP listener");
  return l.port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
