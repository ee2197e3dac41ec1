internal import CRdKafka

enum RDKafkaLibrary {
    /// `rd_kafka_version_str()`: the library loaded at run time, not the headers' version.
    static var versionString: String {
        String(cString: rd_kafka_version_str())
    }
}
