import CinemaHTTP
import CinemaJSON
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct RequestFieldsTests {
    enum Letter: String, CaseIterable { case a, b }

    func fields(_ json: String) throws -> RequestFields {
        guard case .object(let members) = try JSONValue.parse(Array(json.utf8)) else { throw APIError.badRequest("not an object") }
        return RequestFields(members: Dictionary(members, uniquingKeysWith: { $1 }))
    }

    @Test func integersMayComeAsStringsLikeHttpieSendsThem() throws {
        #expect(try fields(#"{"movieId":"12"}"#).requiredInteger("movieId") == 12)
        #expect(try fields(#"{"movieId":12}"#).requiredInteger("movieId") == 12)
        #expect(try fields(#"{"roomId":3}"#).requiredInteger("movieId", aliases: ["roomId"]) == 3)
    }

    @Test func wrongTypesAndMissingFieldsNameTheField() throws {
        #expect { try fields(#"{"movieId":"abc"}"#).requiredInteger("movieId") } throws: { error in
            (error as? APIError)?.field == "movieId" && (error as? APIError)?.status == .badRequest
        }
        #expect { try fields(#"{"movieId":true}"#).requiredInteger("movieId") } throws: { error in
            (error as? APIError)?.message == "movieId must be an integer, got a boolean"
        }
        #expect { try fields(#"{"movieId":1.5}"#).requiredInteger("movieId") } throws: { error in
            (error as? APIError)?.field == "movieId"
        }
        #expect { try fields(#"{}"#).requiredInteger("movieId") } throws: { error in
            (error as? APIError)?.message == "movieId is required"
        }
        #expect { try fields(#"{"desc":5}"#).string("desc") } throws: { error in
            (error as? APIError)?.message == "desc must be a string, got a number"
        }
        #expect { try fields(#"{"status":"x"}"#).choice("status", of: Letter.self) } throws: { error in
            (error as? APIError)?.field == "status"
        }
        #expect(try fields(#"{"desc":null}"#).string("desc") == nil)
    }

    @Test func jsonValueKeepsObjectOrderWhenWriting() {
        let value = JSONValue.object([("z", .integer(1)), ("a", .array([.null, .bool(true), .string("é\"")]))])
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"z":1,"a":[null,true,"é\""]}"#)
    }
}

/// The kit's HTTP plumbing, through a real router.
@Suite struct HTTPPlumbingTests {
    struct Thing: HALResource {
        var thingId: Int64
        static let collectionName = "things"
        static let itemRelation = "thing"
        var id: Int64 { thingId }
    }

    func app() -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.post("things") { request, context -> Response in
            let fields = try await RequestFields.read(from: request, context: context)
            let id = try fields.requiredInteger("thingId")
            return try HAL.itemResponse(Thing(thingId: id), links: LinkBuilder(request: request), status: .created)
        }
        router.get("things") { request, _ -> Response in
            let pageRequest = try PageRequest(request: request)
            let all = (1...45).map { Thing(thingId: Int64($0)) }
            let items = Array(all.dropFirst(pageRequest.offset).prefix(pageRequest.size))
            return try HAL.collectionResponse(
                Page(items: items, request: pageRequest, totalElements: all.count), links: LinkBuilder(request: request))
        }
        router.get("boom") { _, _ -> Response in throw CancellationError() }
        return Application(router: router)
    }

    @Test func createdItemsHaveLocationAndLinksFromForwardedHeaders() async throws {
        try await app().test(.router) { client in
            try await client.execute(
                uri: "/things", method: .post,
                headers: [HTTPField.Name("X-Forwarded-Host")!: "localhost:8088", HTTPField.Name("X-Forwarded-Proto")!: "http"],
                body: ByteBuffer(string: #"{"thingId":"4"}"#)
            ) { response in
                #expect(response.status == .created)
                #expect(response.headers[.location] == "http://localhost:8088/things/4")
                #expect(response.headers[.contentType] == "application/hal+json")
                #expect(
                    String(buffer: response.body)
                        == #"{"thingId":4,"_links":{"self":{"href":"http://localhost:8088/things/4"},"thing":{"href":"http://localhost:8088/things/4"}}}"#
                )
            }
        }
    }

    @Test func badBodiesGetJSONErrorsNamingTheProblem() async throws {
        try await app().test(.router) { client in
            for (body, status, message) in [
                ("{not json", HTTPResponse.Status.badRequest, "request body is not valid JSON"),
                ("[1]", .badRequest, "request body must be a JSON object, not an array"),
                ("", .badRequest, "request body is empty; send a JSON object"),
                (#"{"thingId":"x"}"#, .badRequest, #"thingId must be an integer, got "x""#),
                (
                    String(repeating: " ", count: RequestFields.maximumBodySize + 10) + "{}", .contentTooLarge,
                    "request body exceeds 65536 bytes"
                ),
            ] {
                try await client.execute(uri: "/things", method: .post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status)
                    let json = try JSONValue.parse(Array(response.body.readableBytesView))
                    #expect(json["message"] == .string(message))
                    #expect(json["status"] == .integer(Int64(status.code)))
                    #expect(json["path"] == .string("/things"))
                }
            }
        }
    }

    @Test func unexpectedErrorsAndUnknownRoutesAreJSONToo() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                let json = try? JSONValue.parse(Array(response.body.readableBytesView))
                #expect(json?["message"] == .string("internal error"))
            }
            try await client.execute(uri: "/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let json = try? JSONValue.parse(Array(response.body.readableBytesView))
                #expect(json?["status"] == .integer(404))
            }
        }
    }

    @Test func collectionsArePagedLikeSpringDataREST() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/things?page=1&size=20", method: .get) { response in
                let json = try JSONValue.parse(Array(response.body.readableBytesView))
                guard case .array(let items)? = json["_embedded"]?["things"] else {
                    Issue.record("no _embedded.things")
                    return
                }
                #expect(items.count == 20)
                #expect(items.first?["thingId"] == .integer(21))
                #expect(
                    json["page"]
                        == .object([
                            ("size", .integer(20)), ("totalElements", .integer(45)), ("totalPages", .integer(3)), ("number", .integer(1)),
                        ]))
                #expect(json["_links"]?["next"]?["href"] != nil)
                #expect(json["_links"]?["prev"]?["href"] != nil)
            }
            try await client.execute(uri: "/things?page=-1", method: .get) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    /// Junk and extremes in the paging parameters are a 400 naming the parameter, never a crash
    /// (an overflowing offset used to trap the process).
    @Test(arguments: [
        ("page=9223372036854775807", "page"), ("page=4611686018427387903&size=2", "page"), ("page=-1", "page"),
        ("page=1.5", "page"), ("page=1e3", "page"), ("page=", "page"), ("page=%00", "page"),
        ("size=0", "size"), ("size=-5", "size"), ("size=99999999999999999999", "size"), ("size=abc", "size"),
    ])
    func junkPagingIsRefusedNamingTheParameter(query: String, field: String) async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/things?\(query)", method: .get) { response in
                #expect(response.status == .badRequest)
                let json = try JSONValue.parse(Array(response.body.readableBytesView))
                #expect(json["field"] == .string(field))
            }
        }
    }

    @Test func theLastRepresentablePageIsEmptyNotAnError() async throws {
        try await app().test(.router) { client in
            let page = Int.max / 2000 - 2
            try await client.execute(uri: "/things?page=\(page)&size=99999", method: .get) { response in
                #expect(response.status == .ok)
                let json = try JSONValue.parse(Array(response.body.readableBytesView))
                #expect(json["page"]?["size"] == .integer(2000))
                #expect(json["page"]?["number"] == .integer(Int64(page)))
            }
        }
    }

    @Test(arguments: [
        ("text/plain", HTTPResponse.Status.unsupportedMediaType), ("application/x-www-form-urlencoded", .unsupportedMediaType),
        ("multipart/form-data; boundary=x", .unsupportedMediaType), ("application/jsonx", .unsupportedMediaType),
        ("", .unsupportedMediaType),
        ("application/json", .created), ("Application/JSON; charset=utf-8", .created), ("application/hal+json", .created),
    ])
    func onlyJSONBodiesAreRead(contentType: String, status: HTTPResponse.Status) async throws {
        try await app().test(.router) { client in
            try await client.execute(
                uri: "/things", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: #"{"thingId":1}"#)
            ) { response in
                #expect(response.status == status)
                if status == .unsupportedMediaType {
                    let json = try JSONValue.parse(Array(response.body.readableBytesView))
                    #expect(json["field"] == .string("Content-Type"))
                }
            }
        }
    }
}

@Suite struct APIErrorShapeTests {
    @Test func theBodyNamesThePathWhenItIsKnownAndLeavesItOutOtherwise() {
        let error = APIError(.badRequest, "malformed header field")
        let withPath = String(decoding: error.body(path: "/movies").serialized(), as: UTF8.self)
        #expect(withPath == #"{"status":400,"error":"Bad Request","message":"malformed header field","path":"/movies"}"#)
        let withoutPath = String(decoding: error.body(path: nil).serialized(), as: UTF8.self)
        #expect(withoutPath == #"{"status":400,"error":"Bad Request","message":"malformed header field"}"#)
    }
}

@Suite struct ReadinessTests {
    /// Details are shown beside the checks and never decide the answer: only the checks do.
    @Test(arguments: [(true, HTTPResponse.Status.ok), (false, .serviceUnavailable)])
    func detailsAreShownWithoutDecidingReadiness(databaseUp: Bool, expected: HTTPResponse.Status) async throws {
        let router = Router()
        router.addProbeRoutes(
            service: "reservation",
            readiness: Readiness(checks: [("database", { databaseUp })], details: [("paymentBreaker", { "OPEN" })]),
            metrics: nil
        )
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == expected)
                let status = databaseUp ? "UP" : "DOWN"
                #expect(
                    String(buffer: response.body)
                        == #"{"status":"\#(status)","service":"reservation","checks":{"database":"\#(status)"},"details":{"paymentBreaker":"OPEN"}}"#
                )
            }
        }
    }

    /// Without details, the answer keeps its old shape.
    @Test func noDetailsNoDetailsMember() async throws {
        let router = Router()
        router.addProbeRoutes(service: "movie", readiness: Readiness(checks: [("database", { true })]), metrics: nil)
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(String(buffer: response.body) == #"{"status":"UP","service":"movie","checks":{"database":"UP"}}"#)
            }
        }
    }
}
