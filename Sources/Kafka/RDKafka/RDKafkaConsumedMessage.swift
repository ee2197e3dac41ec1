internal import CRdKafka

extension KafkaConsumerMessage {
    /// Copies everything out of librdkafka's memory: the message is destroyed right after.
    init(copying raw: UnsafeMutablePointer<rd_kafka_message_t>) {
        let message = raw.pointee
        func bytes(_ pointer: UnsafeRawPointer?, _ count: Int) -> [UInt8]? {
            guard let pointer else { return nil }
            return Array(UnsafeRawBufferPointer(start: pointer, count: count))
        }
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        // A message without headers answers __NOENT here: then there are none to copy.
        if rd_kafka_message_headers(raw, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: bytes(value, size)))
                index += 1
            }
        }
        self.init(
            topic: message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
            partition: message.partition,
            offset: message.offset,
            key: bytes(message.key, message.key_len),
            value: bytes(message.payload, message.len) ?? [],
            headers: headers
        )
    }
}
