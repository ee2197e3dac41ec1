import Kafka
import Testing

/// What librdkafka ends up with: later entries for the same name win, as with `rd_kafka_conf_set`.
private func effective(_ properties: [(name: String, value: String)]) -> [String: String] {
    properties.reduce(into: [:]) { $0[$1.name] = $1.value }
}

private func rendered(_ properties: [(name: String, value: String)]) -> [String] {
    properties.map { "\($0.name)=\($0.value)" }
}

private let producerBase = KafkaProducerConfiguration(bootstrapServers: "broker:9092", clientID: "producer-id")
private let consumerBase = KafkaConsumerConfiguration(
    bootstrapServers: "broker:9092", groupID: "group-id", topics: ["cinema"], clientID: "consumer-id")

/// One typed field set to a non-default value, and the librdkafka property it must produce.
struct ProducerField: Sendable, CustomTestStringConvertible {
    let label: String
    let change: @Sendable (inout KafkaProducerConfiguration) -> Void
    let property: String
    let value: String
    var testDescription: String { label }

    static let all: [ProducerField] = [
        .init(label: "acks none", change: { $0.acks = .none }, property: "acks", value: "0"),
        .init(label: "acks leader", change: { $0.acks = .leader }, property: "acks", value: "1"),
        .init(label: "acks all", change: { $0.acks = .all }, property: "acks", value: "all"),
        .init(label: "not idempotent", change: { $0.isIdempotent = false }, property: "enable.idempotence", value: "false"),
        .init(label: "linger", change: { $0.linger = .milliseconds(20) }, property: "linger.ms", value: "20"),
        .init(label: "linger zero", change: { $0.linger = .zero }, property: "linger.ms", value: "0"),
        .init(label: "delivery timeout", change: { $0.deliveryTimeout = .seconds(2) }, property: "message.timeout.ms", value: "2000"),
        .init(
            label: "auto-create topics", change: { $0.allowAutoCreateTopics = true }, property: "allow.auto.create.topics", value: "true"),
        .init(label: "client id", change: { $0.clientID = "other-client" }, property: "client.id", value: "other-client"),
        .init(label: "bootstrap servers", change: { $0.bootstrapServers = "a:1,b:2" }, property: "bootstrap.servers", value: "a:1,b:2"),
    ]
}

struct ConsumerField: Sendable, CustomTestStringConvertible {
    let label: String
    let change: @Sendable (inout KafkaConsumerConfiguration) -> Void
    let property: String
    let value: String
    var testDescription: String { label }

    static let all: [ConsumerField] = [
        .init(label: "offset reset latest", change: { $0.autoOffsetReset = .latest }, property: "auto.offset.reset", value: "latest"),
        .init(label: "offset reset earliest", change: { $0.autoOffsetReset = .earliest }, property: "auto.offset.reset", value: "earliest"),
        .init(label: "session timeout", change: { $0.sessionTimeout = .seconds(10) }, property: "session.timeout.ms", value: "10000"),
        .init(label: "heartbeat", change: { $0.heartbeatInterval = .milliseconds(500) }, property: "heartbeat.interval.ms", value: "500"),
        .init(label: "group id", change: { $0.groupID = "other-group" }, property: "group.id", value: "other-group"),
        .init(label: "client id", change: { $0.clientID = "other-client" }, property: "client.id", value: "other-client"),
        .init(label: "bootstrap servers", change: { $0.bootstrapServers = "a:1" }, property: "bootstrap.servers", value: "a:1"),
    ]
}

@Suite struct KafkaConfigurationTests {
    @Test func producerDefaultsAreTheEstablishedOnes() {
        // What the producer always set before the typed fields existed; it must not drift.
        #expect(
            rendered(producerBase.librdkafkaProperties()) == [
                "enable.idempotence=true", "acks=all", "linger.ms=5", "message.timeout.ms=30000",
                "allow.auto.create.topics=false", "client.id=producer-id", "bootstrap.servers=broker:9092",
            ])
        #expect(producerBase.flushTimeout == .seconds(10))
        #expect(producerBase.flushTimeoutWhileDisconnected == .milliseconds(500))
        #expect(producerBase.repeatedLogWindow == .seconds(30))
    }

    @Test func consumerDefaultsAreTheEstablishedOnes() {
        // Auto commit is off: the consumer commits what it stored itself (see KafkaConsumer).
        #expect(
            rendered(consumerBase.librdkafkaProperties()) == [
                "enable.auto.commit=false", "enable.auto.offset.store=false", "auto.offset.reset=earliest",
                "session.timeout.ms=6000", "heartbeat.interval.ms=2000",
                "enable.partition.eof=false", "client.id=consumer-id", "bootstrap.servers=broker:9092",
                "group.id=group-id",
            ])
        #expect(consumerBase.pollTimeout == .milliseconds(100))
        #expect(consumerBase.repeatedLogWindow == .seconds(30))
    }

    @Test(arguments: ProducerField.all)
    func producerFieldMapsToItsProperty(_ field: ProducerField) {
        var configuration = producerBase
        field.change(&configuration)
        let before = effective(producerBase.librdkafkaProperties())
        let after = effective(configuration.librdkafkaProperties())
        #expect(after[field.property] == field.value)
        // Nothing else moves.
        #expect(after.filter { $0.key != field.property } == before.filter { $0.key != field.property })
        // Set once, not appended as an override.
        #expect(configuration.librdkafkaProperties().count { $0.name == field.property } == 1)
    }

    @Test(arguments: ConsumerField.all)
    func consumerFieldMapsToItsProperty(_ field: ConsumerField) {
        var configuration = consumerBase
        field.change(&configuration)
        let before = effective(consumerBase.librdkafkaProperties())
        let after = effective(configuration.librdkafkaProperties())
        #expect(after[field.property] == field.value)
        #expect(after.filter { $0.key != field.property } == before.filter { $0.key != field.property })
        #expect(configuration.librdkafkaProperties().count { $0.name == field.property } == 1)
    }

    @Test func settingsThatAreNotLibrdkafkaPropertiesStayOutOfTheList() {
        var producer = producerBase
        producer.flushTimeout = .seconds(1)
        producer.flushTimeoutWhileDisconnected = .seconds(2)
        producer.repeatedLogWindow = .seconds(3)
        #expect(rendered(producer.librdkafkaProperties()) == rendered(producerBase.librdkafkaProperties()))

        var consumer = consumerBase
        consumer.pollTimeout = .seconds(1)
        consumer.repeatedLogWindow = .seconds(3)
        consumer.topics = ["a", "b"]
        #expect(rendered(consumer.librdkafkaProperties()) == rendered(consumerBase.librdkafkaProperties()))
    }

    @Test(arguments: [
        ("linger.ms", "50"), ("acks", "1"), ("enable.idempotence", "false"), ("client.id", "from-properties"),
        ("bootstrap.servers", "elsewhere:9092"),
    ])
    func producerEscapeHatchOverridesTypedFields(_ name: String, _ value: String) {
        var configuration = producerBase
        configuration.properties = [name: value]
        let list = configuration.librdkafkaProperties()
        #expect(effective(list)[name] == value)
        // The typed value is still there, earlier, so the override is visible as such.
        #expect(list.last.map { "\($0.name)=\($0.value)" } == "\(name)=\(value)")
        #expect(list.count { $0.name == name } == 2)
    }

    @Test(arguments: [
        ("enable.auto.offset.store", "true"), ("session.timeout.ms", "45000"), ("group.id", "from-properties"),
        ("auto.offset.reset", "latest"),
    ])
    func consumerEscapeHatchOverridesTypedFieldsAndFixedDefaults(_ name: String, _ value: String) {
        var configuration = consumerBase
        configuration.properties = [name: value]
        let list = configuration.librdkafkaProperties()
        #expect(effective(list)[name] == value)
        #expect(list.last.map { "\($0.name)=\($0.value)" } == "\(name)=\(value)")
    }

    @Test func orderIsDefaultsThenIdentityThenPropertiesSortedByName() {
        let extra = ["z.last": "1", "a.first": "2", "m.middle": "3"]
        var producer = producerBase
        producer.properties = extra
        #expect(
            rendered(producer.librdkafkaProperties()).suffix(5) == [
                "client.id=producer-id", "bootstrap.servers=broker:9092", "a.first=2", "m.middle=3", "z.last=1",
            ])

        var consumer = consumerBase
        consumer.properties = extra
        #expect(
            rendered(consumer.librdkafkaProperties()).suffix(6) == [
                "client.id=consumer-id", "bootstrap.servers=broker:9092", "group.id=group-id",
                "a.first=2", "m.middle=3", "z.last=1",
            ])
    }

    @Test(arguments: [
        (Duration.zero, Int32(0)),
        (.milliseconds(5), 5),
        (.seconds(30), 30_000),
        // A fraction of a millisecond rounds up: a positive timeout never turns into "don't wait".
        (.microseconds(1500), 2),
        (.nanoseconds(1), 1),
        (.milliseconds(-5), 0),
        (.seconds(-1), 0),
        (.nanoseconds(-1), 0),
        (.milliseconds(Int64(Int32.max) - 1), Int32.max - 1),
        (.milliseconds(Int64(Int32.max)), Int32.max),
        (.seconds(Int64(Int32.max)), Int32.max),
        (.seconds(Int64.max), Int32.max),
    ])
    func durationsBecomeClampedWholeMilliseconds(_ duration: Duration, _ milliseconds: Int32) {
        #expect(duration.librdkafkaMilliseconds == milliseconds)
    }

    @Test func clampedDurationsReachLibrdkafkaAsValidValues() throws {
        // A negative duration would otherwise be an invalid linger.ms and fail creation.
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", clientID: "clamped")
        configuration.linger = .seconds(-3)
        _ = try KafkaProducer(configuration: configuration, logger: testLogger)
    }

    enum Client: String, CaseIterable, Sendable { case producer, consumer }

    @Test(arguments: Client.allCases, [("no.such.property", "1"), ("linger.ms", "-5"), ("acks", "sometimes")])
    func invalidRawPropertyIsAnInvalidArgumentNamingIt(_ client: Client, _ property: (name: String, value: String)) {
        let properties = [property.name: property.value]
        let error = #expect(throws: KafkaError.self) {
            switch client {
            case .producer:
                _ = try KafkaProducer(
                    configuration: .init(bootstrapServers: "127.0.0.1:1", clientID: "bad", properties: properties),
                    logger: testLogger
                )
            case .consumer:
                _ = try KafkaConsumer(
                    configuration: .init(
                        bootstrapServers: "127.0.0.1:1", groupID: "bad", topics: ["t"], clientID: "bad",
                        properties: properties),
                    logger: testLogger
                )
            }
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.isRetriable == false)
        #expect(error?.message.contains(property.name) == true, "\(String(describing: error))")
    }

    @Test func idempotenceWithoutAcksAllIsRefusedAsInvalidArgument() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", clientID: "contradiction")
        configuration.acks = .leader
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: testLogger)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("acks") == true, "\(String(describing: error))")

        configuration.isIdempotent = false
        #expect(throws: Never.self) { _ = try KafkaProducer(configuration: configuration, logger: testLogger) }
    }
}
