/// One librdkafka configuration property, as `rd_kafka_conf_set` takes it.
package typealias LibrdkafkaProperty = (name: String, value: String)

/// How a producer is set up. The typed fields cover what the services set; `properties` is the
/// escape hatch for any other librdkafka property and is applied last, so it can override
/// anything, typed fields included (names and values as in librdkafka's CONFIGURATION.md).
public struct KafkaProducerConfiguration: Sendable {
    /// How many replicas must have the message before the broker acknowledges it (`acks`).
    public enum Acks: Sendable, Hashable, CaseIterable {
        /// No acknowledgement at all: a message can be lost without anyone noticing.
        case none
        /// The partition leader alone: lost if the leader fails before the followers copy it.
        case leader
        /// Every in-sync replica; the only setting the idempotent producer accepts.
        case all

        var librdkafkaValue: String {
            switch self {
            case .none: "0"
            case .leader: "1"
            case .all: "all"
            }
        }
    }

    /// `bootstrap.servers`: comma-separated `host:port` list.
    public var bootstrapServers: String
    /// `client.id`: shows up in broker logs and metrics, and names this client's threads and logs.
    public var clientID: String
    /// `acks`. librdkafka refuses to create an idempotent producer with anything but `.all`.
    public var acks: Acks = .all
    /// `enable.idempotence`: no duplicates from librdkafka's own retries, and per-partition
    /// order kept across them, which `send(inOrder:)` relies on.
    public var isIdempotent = true
    /// `linger.ms`: how long librdkafka waits to fill a batch before sending it.
    public var linger: Duration = .milliseconds(5)
    /// `message.timeout.ms`: how long librdkafka keeps retrying a message before its `send()`
    /// fails with `.messageTimedOut`.
    public var deliveryTimeout: Duration = .seconds(30)
    /// `allow.auto.create.topics`. A topic is created on purpose, with its partition count; some
    /// brokers (Tansu) would otherwise create a missing one on first produce with their own default.
    public var allowAutoCreateTopics = false
    /// How long `run()` waits at shutdown for outstanding deliveries before failing them.
    public var flushTimeout: Duration = .seconds(10)
    /// The same wait when no broker answers at shutdown: waiting the full `flushTimeout` for a
    /// broker that is not there would only delay the exit.
    public var flushTimeoutWhileDisconnected: Duration = .milliseconds(500)
    /// librdkafka log and error lines repeated within this long after their first occurrence are
    /// logged once and then summarised with a count ("... (repeated 12 times in the last 30 s)"),
    /// instead of once per reconnect attempt while a broker is away.
    public var repeatedLogWindow: Duration = .seconds(30)
    /// Any librdkafka properties, applied after everything above so they can override it.
    public var properties: [String: String]

    public init(bootstrapServers: String, clientID: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }

    /// What is handed to librdkafka, in order; a later entry for the same name wins.
    package func librdkafkaProperties() -> [LibrdkafkaProperty] {
        LibrdkafkaProperties.ordered(
            defaults: [
                ("enable.idempotence", String(isIdempotent)),
                ("acks", acks.librdkafkaValue),
                ("linger.ms", String(linger.librdkafkaMilliseconds)),
                ("message.timeout.ms", String(deliveryTimeout.librdkafkaMilliseconds)),
                ("allow.auto.create.topics", String(allowAutoCreateTopics)),
            ],
            identity: [
                ("client.id", clientID),
                ("bootstrap.servers", bootstrapServers),
            ],
            overrides: properties
        )
    }
}

/// How a consumer group member is set up; `properties` is the escape hatch, as for the producer.
///
/// Two settings are not offered as fields because at-least-once delivery depends on them:
/// `enable.auto.offset.store=false` (only `storeOffset(of:)` marks a message processed) and
/// `enable.auto.commit=false`: the consumer commits what was stored itself, every
/// `commitInterval` and at close, so that it can skip the final commit when no broker answers
/// (librdkafka's own would hold the process at exit, waiting for a coordinator).
public struct KafkaConsumerConfiguration: Sendable {
    /// Where a group starts reading a partition it has no committed offset for.
    public enum AutoOffsetReset: Sendable, Hashable, CaseIterable {
        /// From the oldest message still on the broker: nothing published before the group's
        /// first start is missed.
        case earliest
        /// Only messages published from now on.
        case latest

        var librdkafkaValue: String {
            switch self {
            case .earliest: "earliest"
            case .latest: "latest"
            }
        }
    }

    /// `bootstrap.servers`: comma-separated `host:port` list.
    public var bootstrapServers: String
    /// `group.id`: members of one group share the partitions and the committed offsets.
    public var groupID: String
    /// The topics to subscribe to when `run()` starts.
    public var topics: [String]
    /// `client.id`: shows up in broker logs and metrics, and names this client's threads and logs.
    public var clientID: String
    /// `auto.offset.reset`.
    public var autoOffsetReset: AutoOffsetReset = .earliest
    /// `session.timeout.ms`: how long the group waits for a silent member before rebalancing.
    /// Shorter than librdkafka's 45 s default, because the group join waits for it too (a join
    /// against Tansu took ~23 s with the default, ~3 s with this; see ENVIRONMENT.md).
    public var sessionTimeout: Duration = .seconds(6)
    /// `heartbeat.interval.ms`: well below `sessionTimeout`, so a few lost heartbeats are survivable.
    public var heartbeatInterval: Duration = .seconds(2)
    /// How often stored offsets are committed in the background; what is stored but not yet
    /// committed when a member dies is delivered again.
    public var commitInterval: Duration = .seconds(5)
    /// How long one `rd_kafka_consumer_poll` may block. Also the longest a shutdown waits behind
    /// a poll in progress, since polls and the close share one serial queue.
    public var pollTimeout: Duration = .milliseconds(100)
    /// How many messages one trip to the poll queue may bring back: the first poll waits up to `pollTimeout`, the rest
    /// take only what librdkafka has already fetched. Each trip is two thread switches (onto the queue and back), paid
    /// once per batch instead of once per message; 1 polls one message at a time.
    public var maxMessagesPerPoll: Int = 64
    /// librdkafka log and error lines repeated within this long after their first occurrence are
    /// logged once and then summarised with a count ("... (repeated 12 times in the last 30 s)"),
    /// instead of once per reconnect attempt while a broker is away.
    public var repeatedLogWindow: Duration = .seconds(30)
    /// Any librdkafka properties, applied after everything above so they can override it.
    public var properties: [String: String]

    public init(
        bootstrapServers: String,
        groupID: String,
        topics: [String],
        clientID: String,
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.topics = topics
        self.clientID = clientID
        self.properties = properties
    }

    /// What is handed to librdkafka, in order; a later entry for the same name wins.
    package func librdkafkaProperties() -> [LibrdkafkaProperty] {
        LibrdkafkaProperties.ordered(
            defaults: [
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", autoOffsetReset.librdkafkaValue),
                ("session.timeout.ms", String(sessionTimeout.librdkafkaMilliseconds)),
                ("heartbeat.interval.ms", String(heartbeatInterval.librdkafkaMilliseconds)),
                // End of partition is not an event this consumer acts on.
                ("enable.partition.eof", "false"),
            ],
            identity: [
                ("client.id", clientID),
                ("bootstrap.servers", bootstrapServers),
                ("group.id", groupID),
            ],
            overrides: properties
        )
    }
}

enum LibrdkafkaProperties {
    /// Defaults first, then the identity, then the caller's properties (sorted, so that the
    /// outcome does not depend on dictionary order should two of them interact).
    static func ordered(
        defaults: [LibrdkafkaProperty],
        identity: [LibrdkafkaProperty],
        overrides: [String: String]
    ) -> [LibrdkafkaProperty] {
        defaults + identity + overrides.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
    }
}

extension Duration {
    /// Whole milliseconds, as librdkafka's `*.ms` properties and timeout arguments (an `int`) take
    /// them. Negative durations become 0 and very long ones `Int32.max` rather than trapping or
    /// wrapping. A fraction of a millisecond rounds up, so a positive duration never becomes 0,
    /// which librdkafka's timeout arguments read as "do not wait at all".
    package var librdkafkaMilliseconds: Int32 {
        if self <= .zero { return 0 }
        if self >= .milliseconds(Int64(Int32.max)) { return Int32.max }
        let (seconds, attoseconds) = components
        let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
        let (wholeMilliseconds, remainder) = attoseconds.quotientAndRemainder(dividingBy: attosecondsPerMillisecond)
        // Below Int32.max milliseconds here, so neither step can overflow.
        return Int32(seconds * 1000 + wholeMilliseconds + (remainder > 0 ? 1 : 0))
    }
}
