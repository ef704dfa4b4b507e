/** Counters the broker keeps for $SYS and metrics. */
export class BrokerStats {
  readonly startedAt = Date.now();
  clientsConnected = 0;
  clientsMaximum = 0;
  clientsTotal = 0;
  messagesReceived = 0;
  messagesSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  publishReceived = 0;
  publishSent = 0;
  /** QoS 0 dropped for slow consumers, queue overflow, oversize for the client, expired. */
  publishDropped = 0;
  connectionsRefused = 0;
  /** Retained messages not stored because the retained store was full. */
  retainedRefused = 0;
  protocolErrors = 0;
}
