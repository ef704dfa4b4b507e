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
  /** PUBLISH packets received / sent, by QoS (index 0, 1, 2). */
  readonly publishReceivedByQos = [0, 0, 0];
  readonly publishSentByQos = [0, 0, 0];
  /** Messages not delivered: the total, and by reason (see {@link BrokerStats.drop}). */
  publishDropped = 0;
  readonly dropped = {
    /** QoS 0 for a client whose socket is backed up. */
    slow_consumer: 0,
    /** A session's queue was full. */
    queue_full: 0,
    /** Message Expiry Interval passed before delivery. */
    expired: 0,
    /** Larger than the client's Maximum Packet Size. */
    too_large: 0,
    /** The subscriber may not read the topic (ACL). */
    not_authorized: 0,
  };
  /** CONNECTs refused by authentication (bad credentials, anonymous not allowed). */
  authFailures = 0;
  /** PUBLISH packets and wills the authorizer refused (5.0: answered 0x87; 3.1.x: acknowledged and dropped). */
  publishDenied = 0;
  connectionsRefused = 0;
  /** Retained messages not stored because the retained store was full. */
  retainedRefused = 0;
  protocolErrors = 0;

  /** Counts a message that was not delivered. */
  drop(reason: keyof BrokerStats["dropped"]): void {
    this.publishDropped++;
    this.dropped[reason]++;
  }
}
