/**
 * The transport `starling bench` gives its clients: Node's own (TCP, TLS,
 * WebSocket), wrapped to count the bytes each way and to tell the bench when
 * a client's writes have drained, so a publisher can go as fast as the
 * socket takes bytes without buffering without bound.
 */
import { nodeTransport } from "../client/transport/node-any.js";
import type { Transport, TransportFactory } from "../client/transport/types.js";

/** Bytes on the wire, over all clients of a run. */
export interface Meter {
  bytesOut: number;
  bytesIn: number;
}

export class MeteredTransport implements Transport {
  onData: (chunk: Uint8Array) => void = () => {};
  onClose: (error?: Error) => void = () => {};
  onDrain: () => void = () => {};
  /** Called after the client's own `onDrain`: the bench may write again. */
  onWritable: () => void = () => {};
  readonly #inner: Transport;
  readonly #meter: Meter;

  constructor(inner: Transport, meter: Meter) {
    this.#inner = inner;
    this.#meter = meter;
    inner.onData = (chunk) => {
      meter.bytesIn += chunk.length;
      this.onData(chunk);
    };
    inner.onClose = (error) => this.onClose(error);
    inner.onDrain = () => {
      this.onDrain();
      this.onWritable();
    };
  }

  get bufferedAmount(): number {
    return this.#inner.bufferedAmount;
  }

  write(bytes: Uint8Array): void {
    this.#meter.bytesOut += bytes.length;
    this.#inner.write(bytes);
  }

  pause(): void {
    this.#inner.pause();
  }

  resume(): void {
    this.#inner.resume();
  }

  close(): void {
    this.#inner.close();
  }
}

/** A transport factory whose transports count into `meter`; `opened` sees each one. */
export function meteredTransport(
  meter: Meter,
  opened: (t: MeteredTransport) => void,
): TransportFactory {
  return async (url, options) => {
    const t = new MeteredTransport(await nodeTransport(url, options), meter);
    opened(t);
    return t;
  };
}
