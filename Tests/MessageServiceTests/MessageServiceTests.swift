import CinemaEvents
import CinemaJSON
import CinemaKit
import CinemaTesting
import HTTPTypes
import HummingbirdTesting
import MessageService
import Testing

@Suite struct MessageTests {
    @Test func confirmationsAndCancellationsLeaveTheOriginalsTexts() async throws {
        let service = try await TestService(MessageService.definition)
        let reservation = Reservation(rsvId: 3, movieId: 2, status: .reserved, payId: 3)
        try await service.deliver(ReservationConfirmed(reservation), messageId: "a")
        try await service.deliver(ReservationConfirmed(reservation), messageId: "a")
        try await service.deliver(ReservationCancelled(reservation), messageId: "b")
        try await service.deliver(ReservationRejected(reservation), messageId: "c")
        try await service.application().test(.router) { client async throws in
            let list = try await client.send(.get, "/messages")
            guard case .array(let items)? = list.json?["_embedded"]?["messages"] else {
                Issue.record("no messages")
                return
            }
            #expect(
                items.map { $0["content"] } == [
                    .string("예약이 완료 되었습니다. 예약 영화 번호 : [2]"),
                    .string("예약이 취소 되었습니다. 예약 영화 번호 : [2]"),
                    .string("예약이 거절 되었습니다. 좌석이 없어 결제가 환불됩니다. 예약 영화 번호 : [2]"),
                ])
            #expect((try await client.send(.post, "/messages", #"{}"#)).status.code >= 400)
        }
        #expect(try await service.recordedEventTypes().isEmpty)
    }
}
