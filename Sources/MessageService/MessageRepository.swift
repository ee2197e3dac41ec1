public import CinemaKit
public import SQLKit

/// The message table.
public enum MessageRepository: Repository {
    public static let table = Table<Message>("message", idColumn: "msgId", id: \.msgId) {
        $0.identityColumn("msgId")
            .column("movieId", type: .bigint, .notNull)
            .column("content", type: .text)
    }
}
