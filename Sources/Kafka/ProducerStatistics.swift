#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The part of librdkafka's statistics JSON (STATISTICS.md, emitted every `statistics.interval.ms`)
/// the producer watches: the idempotent producer's current epoch, which climbs quickly while a
/// broker refuses its producer id (see `ProducerHandleHealth`).
struct ProducerStatistics: Decodable {
    struct ExactlyOnce: Decodable {
        /// -1 while the producer has no id (or is not idempotent).
        let producerEpoch: Int

        enum CodingKeys: String, CodingKey {
            case producerEpoch = "producer_epoch"
        }
    }

    /// Only present for producers.
    let eos: ExactlyOnce?

    /// nil if the JSON is not what STATISTICS.md describes, or has no producer section.
    static func producerEpoch(fromJSON json: UnsafeRawBufferPointer) -> Int? {
        try? JSONDecoder().decode(ProducerStatistics.self, from: Data(json)).eos?.producerEpoch
    }
}
