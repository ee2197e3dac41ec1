public import Kafka
import Metrics
public import ServiceLifecycle

/// Publishes `cinema_kafka_consumer_lag{topic,partition}` every few seconds: the messages of each partition this
/// member is assigned that it has not processed yet. A partition that moved to another member is set to 0 here, so a
/// sum over members counts each partition once.
public struct ConsumerLagMetrics: Service {
    let consumer: KafkaConsumer
    let interval: Duration

    public init(consumer: KafkaConsumer, interval: Duration = .seconds(5)) {
        self.consumer = consumer
        self.interval = interval
    }

    public func run() async throws {
        var reported: Set<PartitionKey> = []
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let lags = await consumer.partitionLags()
            var current: Set<PartitionKey> = []
            for lag in lags {
                let key = PartitionKey(topic: lag.topic, partition: lag.partition)
                current.insert(key)
                key.gauge.record(lag.lag)
            }
            for gone in reported.subtracting(current) {
                gone.gauge.record(0)
            }
            reported = reported.union(current)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    private struct PartitionKey: Hashable {
        var topic: String
        var partition: Int32

        var gauge: Gauge {
            Gauge(label: "cinema_kafka_consumer_lag", dimensions: [("topic", topic), ("partition", String(partition))])
        }
    }
}
