public import CinemaHTTP

/// A notification sent to the customer when a reservation is confirmed or cancelled.
public struct Message: HALResource, Codable, Equatable {
    public var msgId: Int64
    public var movieId: Int64
    public var content: String?

    public static let collectionName = "messages"
    public var id: Int64 { msgId }

    public init(msgId: Int64, movieId: Int64, content: String?) {
        self.msgId = msgId
        self.movieId = movieId
        self.content = content
    }
}

extension Message {
    /// The original's notification texts, word for word.
    public static func reservationConfirmed(movieId: Int64) -> Message {
        Message(msgId: 0, movieId: movieId, content: "예약이 완료 되었습니다. 예약 영화 번호 : [\(movieId)]")
    }

    public static func reservationCancelled(movieId: Int64) -> Message {
        Message(msgId: 0, movieId: movieId, content: "예약이 취소 되었습니다. 예약 영화 번호 : [\(movieId)]")
    }

    /// Beyond the original (which had no seats), in its words and form: "the reservation was
    /// refused (no seat left); the payment is refunded".
    public static func reservationRejected(movieId: Int64) -> Message {
        Message(msgId: 0, movieId: movieId, content: "예약이 거절 되었습니다. 좌석이 없어 결제가 환불됩니다. 예약 영화 번호 : [\(movieId)]")
    }
}
