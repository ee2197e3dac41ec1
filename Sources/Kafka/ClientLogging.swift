import Logging

extension Logger {
    /// One line per client at creation: which librdkafka was really loaded matters when
    /// diagnosing (see ENVIRONMENT.md: the headers' version and the library's can differ).
    func logCreation(of handle: RDKafkaHandle, role: String, bootstrapServers: String) {
        info(
            "librdkafka \(KafkaLibrary.versionString) loaded",
            metadata: [
                "kafka.version": .string(KafkaLibrary.versionString),
                "kafka.client": .string(handle.name),
                "kafka.role": .string(role),
                "kafka.bootstrap.servers": .string(bootstrapServers),
            ]
        )
    }
}
