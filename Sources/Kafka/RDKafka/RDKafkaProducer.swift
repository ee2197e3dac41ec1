internal import CRdKafka

// The producer's librdkafka calls. `poll`, `flush` and `purgeAll` must not overlap: KafkaProducer
// runs them all on its one serial queue.

extension RDKafkaHandle {
    /// Hands the message to librdkafka with `opaqueID` as its opaque, which the delivery-report
    /// callback gets back. Non-blocking (no RD_KAFKA_MSG_F_BLOCK): a full local queue fails fast
    /// with `.queueFull` instead. nil means librdkafka took the message.
    func produce(_ message: KafkaOutgoingMessage, opaqueID: UInt) -> KafkaError? {
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            guard let list = rd_kafka_headers_new(message.headers.count) else {
                return KafkaError(.fail, context: "rd_kafka_headers_new failed")
            }
            for header in message.headers {
                let err = withNullableBytes(header.value) { pointer, count in
                    rd_kafka_header_add(list, header.key, -1, pointer, count)
                }
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    rd_kafka_headers_destroy(list)
                    return KafkaError(err, context: "header \(header.key)")
                }
            }
            headers = list
        }

        let error: OpaquePointer? = message.topic.withCString { topic in
            withNullableBytes(message.value) { value, valueCount in
                withNullableBytes(message.key) { key, keyCount in
                    var fields: [rd_kafka_vu_t] = []
                    fields.reserveCapacity(6)

                    var field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_TOPIC
                    field.u.cstr = topic
                    fields.append(field)

                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    field.u.i = RD_KAFKA_MSG_F_COPY
                    fields.append(field)

                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_VALUE
                    field.u.mem.ptr = UnsafeMutableRawPointer(mutating: value)
                    field.u.mem.size = valueCount
                    fields.append(field)

                    if message.key != nil {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_KEY
                        field.u.mem.ptr = UnsafeMutableRawPointer(mutating: key)
                        field.u.mem.size = keyCount
                        fields.append(field)
                    }

                    if let headers {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_HEADERS
                        field.u.headers = headers
                        fields.append(field)
                    }

                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_OPAQUE
                    field.u.ptr = UnsafeMutableRawPointer(bitPattern: opaqueID)
                    fields.append(field)

                    return rd_kafka_produceva(pointer, fields, fields.count)
                }
            }
        }
        guard let error else { return nil }
        // The headers list only becomes librdkafka's on success.
        if let headers { rd_kafka_headers_destroy(headers) }
        return KafkaError(consuming: error)
    }

    /// Serves queued events (delivery reports, errors, logs) through the callbacks, waiting up to
    /// `timeout` for the first one. Blocks.
    func poll(timeout: Duration) {
        _ = rd_kafka_poll(pointer, timeout.librdkafkaMilliseconds)
    }

    /// Sends what is queued and serves delivery reports until none are outstanding or `timeout`
    /// has passed. Blocks. Returns the error (`.timedOut`) if messages remain, and how many.
    func flush(timeout: Duration) -> (error: KafkaError?, remaining: Int32) {
        let err = rd_kafka_flush(pointer, timeout.librdkafkaMilliseconds)
        let remaining = rd_kafka_outq_len(pointer)
        return (err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err, context: "flush"), remaining)
    }
}

extension RDKafkaHandle {
    /// Drops every message still queued or in flight; `poll` then serves their delivery reports,
    /// failed with `_PURGE_QUEUE` / `_PURGE_INFLIGHT`. An acknowledgement arriving later for a
    /// purged message is ignored, so whether it was written is unknown: callers send it again.
    /// May block briefly while librdkafka's threads purge their queues.
    func purgeAll() {
        _ = rd_kafka_purge(pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
    }

    /// Messages queued or in flight, plus delivery reports and other events not yet served.
    var outqLength: Int32 {
        rd_kafka_outq_len(pointer)
    }
}

/// librdkafka treats a null pointer as "no key/value" and a non-null one with length 0 as an
/// empty one; Swift hands out a nil base address for empty arrays, so keep the two apart here.
func withNullableBytes<R>(
    _ bytes: [UInt8]?,
    _ body: (UnsafeRawPointer?, Int) throws -> R
) rethrows -> R {
    guard let bytes else { return try body(nil, 0) }
    if bytes.isEmpty {
        var placeholder: UInt8 = 0
        return try withUnsafeBytes(of: &placeholder) { try body($0.baseAddress, 0) }
    }
    return try bytes.withUnsafeBytes { try body($0.baseAddress, $0.count) }
}
