import Kafka
import Testing

/// librdkafka's own name (`rd_kafka_err2name`) for each named code: an independent check of the
/// hard-coded raw values against the library actually loaded.
private let librdkafkaNames: [(KafkaError.Code, String)] = [
    (.destroyed, "_DESTROY"),
    (.fail, "_FAIL"),
    (.transport, "_TRANSPORT"),
    (.messageTimedOut, "_MSG_TIMED_OUT"),
    (.partitionEOF, "_PARTITION_EOF"),
    (.unknownPartition, "_UNKNOWN_PARTITION"),
    (.unknownTopic, "_UNKNOWN_TOPIC"),
    (.allBrokersDown, "_ALL_BROKERS_DOWN"),
    (.invalidArgument, "_INVALID_ARG"),
    (.timedOut, "_TIMED_OUT"),
    (.queueFull, "_QUEUE_FULL"),
    (.state, "_STATE"),
    (.noOffset, "_NO_OFFSET"),
    (.timedOutQueue, "_TIMED_OUT_QUEUE"),
    (.purgeQueue, "_PURGE_QUEUE"),
    (.purgeInflight, "_PURGE_INFLIGHT"),
    (.fatal, "_FATAL"),
    (.unknownTopicOrPartition, "UNKNOWN_TOPIC_OR_PART"),
    (.leaderNotAvailable, "LEADER_NOT_AVAILABLE"),
    (.notLeaderForPartition, "NOT_LEADER_FOR_PARTITION"),
    (.requestTimedOut, "REQUEST_TIMED_OUT"),
    (.messageSizeTooLarge, "MSG_SIZE_TOO_LARGE"),
    (.networkException, "NETWORK_EXCEPTION"),
    (.coordinatorLoadInProgress, "COORDINATOR_LOAD_IN_PROGRESS"),
    (.coordinatorNotAvailable, "COORDINATOR_NOT_AVAILABLE"),
    (.notCoordinator, "NOT_COORDINATOR"),
    (.notEnoughReplicas, "NOT_ENOUGH_REPLICAS"),
    (.notEnoughReplicasAfterAppend, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
    (.outOfOrderSequenceNumber, "OUT_OF_ORDER_SEQUENCE_NUMBER"),
    (.duplicateSequenceNumber, "DUPLICATE_SEQUENCE_NUMBER"),
    (.invalidProducerEpoch, "INVALID_PRODUCER_EPOCH"),
    (.invalidProducerIdMapping, "INVALID_PRODUCER_ID_MAPPING"),
    (.unknownProducerId, "UNKNOWN_PRODUCER_ID"),
]

private func isOther(_ code: KafkaError.Code) -> Bool {
    if case .other = code { return true }
    return false
}

@Suite struct KafkaErrorTests {
    @Test(arguments: KafkaError.Code.allNamed)
    func namedCodeRoundTripsThroughItsRawValue(_ code: KafkaError.Code) {
        let decoded = KafkaError.Code(rawValue: code.rawValue)
        #expect(decoded == code)
        // == compares raw values, so check separately that the named case comes back, not .other.
        #expect(!isOther(decoded))
        #expect(String(describing: decoded) == String(describing: code))
    }

    @Test(arguments: KafkaError.Code.allNamed)
    func rawValueMatchesTheHeaderConstant(_ code: KafkaError.Code) {
        #expect(code.rawValue == code.headerRawValue)
    }

    @Test(arguments: librdkafkaNames)
    func rawValueMatchesLibrdkafkasName(_ code: KafkaError.Code, _ name: String) {
        #expect(code.librdkafkaName == name)
    }

    @Test func everyNamedCaseIsListedOnceAndHasADistinctValue() {
        let named = KafkaError.Code.allNamed
        #expect(Set(named.map(\.rawValue)).count == named.count)
        #expect(Set(librdkafkaNames.map(\.0)) == Set(named))
        #expect(librdkafkaNames.count == named.count)
    }

    @Test(arguments: [Int32(-1), -100, 0, 1, 8, 87, 12_345])
    func unnamedCodesAreOtherAndKeepTheirValue(_ rawValue: Int32) {
        let code = KafkaError.Code(rawValue: rawValue)
        #expect(isOther(code))
        #expect(code.rawValue == rawValue)
    }

    @Test func equalityAndHashingGoByRawValue() {
        #expect(KafkaError.Code.other(-184) == .queueFull)
        #expect(Set<KafkaError.Code>([.other(-184), .queueFull]).count == 1)
        #expect(KafkaError.Code.other(1) != .other(2))
    }

    @Test(arguments: KafkaError.Code.allNamed)
    func onlyTheFatalCodeIsFatal(_ code: KafkaError.Code) {
        #expect(KafkaError(code: code, message: "x").isFatal == (code == .fatal))
    }

    @Test func descriptionNamesCodeValueAndFlags() {
        #expect(
            KafkaError(code: .queueFull, message: "full", isRetriable: true).description
                == "KafkaError(queueFull (-184), retriable): full")
        #expect(KafkaError(code: .fatal, message: "gone").description == "KafkaError(fatal (-150), fatal): gone")
        #expect(KafkaError(code: .other(-1), message: "odd").description == "KafkaError(-1): odd")
    }
}
