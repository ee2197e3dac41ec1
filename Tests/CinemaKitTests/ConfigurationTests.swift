import Testing

@testable import CinemaKit

@Suite struct ConfigurationTests {
    /// `_` stands for a dot and `__` for an underscore, so every librdkafka property can be named.
    @Test(arguments: [
        ("LINGER_MS", "linger.ms"),
        ("LOG__LEVEL", "log_level"),
        ("SSL_KEY_LOCATION", "ssl.key.location"),
        ("ENABLE__SASL__OAUTHBEARER__UNSECURE__JWT", "enable_sasl_oauthbearer_unsecure_jwt"),
        ("SASL_OAUTHBEARER_CLIENT_ID", "sasl.oauthbearer.client.id"),
    ])
    func environmentNamesMapToLibrdkafkaProperties(suffix: String, property: String) {
        #expect(ServiceConfiguration.kafkaPropertyName(environmentSuffix: Substring(suffix)) == property)
    }

    @Test func clientSpecificPropertiesAreReadApart() throws {
        let configuration = try ServiceConfiguration.fromEnvironment(
            serviceName: "movie", defaultPort: 8082,
            [
                "KAFKA_PROPERTY_STATISTICS_INTERVAL_MS": "1000",
                "KAFKA_PRODUCER_PROPERTY_LINGER_MS": "1",
                "KAFKA_CONSUMER_PROPERTY_FETCH_WAIT_MAX_MS": "10",
                "KAFKA_PROPERTY_": "ignored: no name",
                "PORT": "9000",
            ]
        )
        #expect(configuration.kafkaProperties == ["statistics.interval.ms": "1000"])
        #expect(configuration.producerProperties == ["linger.ms": "1"])
        #expect(configuration.consumerProperties == ["fetch.wait.max.ms": "10"])
        #expect(configuration.port == 9000)
    }

    @Test(arguments: [(nil, true), ("false", false), ("0", false), ("TRUE", true), ("", true)] as [(String?, Bool)])
    func readinessRequiresKafkaUnlessTold(setting: String?, expected: Bool) throws {
        let environment = setting.map { ["READY_REQUIRES_KAFKA": $0] } ?? [:]
        #expect(
            try ServiceConfiguration.fromEnvironment(serviceName: "movie", defaultPort: 8082, environment).readyRequiresKafka == expected)
    }

    @Test(arguments: [(nil, 2), ("0", 0), ("4", 4), ("", 2)] as [(String?, Int)])
    func sqliteReadersDefaultToTwo(setting: String?, expected: Int) throws {
        let environment = setting.map { ["SQLITE_READERS": $0] } ?? [:]
        #expect(try ServiceConfiguration.fromEnvironment(serviceName: "movie", defaultPort: 8082, environment).sqliteReaders == expected)
    }

    @Test func theConsumerGroupIsTheServiceUnlessNamed() throws {
        #expect(try ServiceConfiguration.fromEnvironment(serviceName: "viewpage", defaultPort: 8085, [:]).consumerGroup == "viewpage")
        let rebuild = try ServiceConfiguration.fromEnvironment(
            serviceName: "viewpage", defaultPort: 8085, ["KAFKA_GROUP_ID": "viewpage-rebuild-1"])
        #expect(rebuild.consumerGroup == "viewpage-rebuild-1")
    }

    @Test(arguments: [
        ["PORT": "70000"], ["PORT": "http"], ["LOG_LEVEL": "loud"], ["KAFKA_GROUP_ID": ""], ["KAFKA_GROUP_ID": "two words"],
        ["KAFKA_GROUP_ID": String(repeating: "g", count: 256)], ["READY_REQUIRES_KAFKA": "maybe"], ["SQLITE_READERS": "-1"],
        ["SQLITE_READERS": "17"], ["SQLITE_READERS": "two"],
    ])
    func unusableSettingsAreRefusedNamingThem(environment: [String: String]) {
        #expect(throws: (any Error).self) {
            try ServiceConfiguration.fromEnvironment(serviceName: "movie", defaultPort: 8082, environment)
        }
    }
}
