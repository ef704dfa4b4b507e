/** `connect()` for a given transport factory: the shared body of the Node and browser entry points. */
import { InvalidArgumentError } from "../protocol/index.js";
import { Client } from "./client.js";
import { type ConnectOptions, DEFAULTS } from "./options.js";
import type { TransportFactory } from "./transport/types.js";

export function createConnect(factory: TransportFactory) {
  /**
   * Connects to a broker and resolves with the {@link Client} once CONNACK
   * accepts it; rejects with a typed error (refused, transport, timeout,
   * aborted) otherwise.
   *
   * @example
   * ```ts
   * const client = await connect("mqtt://127.0.0.1:1883");
   * const sub = await client.subscribe("switches/+/status");
   * for await (const msg of sub) console.log(`lights at ${msg.topic} are ${msg.text()}`);
   * ```
   */
  function connect(
    url: string | URL | ConnectOptions,
    options: ConnectOptions = {},
  ): Promise<Client> {
    let opts = options;
    let target: string | URL;
    if (typeof url === "string" || url instanceof URL) target = url;
    else {
      opts = url;
      target = url.url ?? DEFAULTS.url;
    }
    let parsed: URL;
    try {
      parsed = new URL(target);
    } catch {
      throw new InvalidArgumentError(
        `not a broker URL: ${JSON.stringify(String(target))} (expected e.g. mqtt://host:1883 or ws://host:8083/mqtt)`,
      );
    }
    const client = new Client(parsed, opts, factory);
    return client.start().then(() => client);
  }
  return connect;
}
