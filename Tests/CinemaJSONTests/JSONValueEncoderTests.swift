import CinemaJSON
import Testing

@Suite struct JSONValueEncoderTests {
    struct Entity: Encodable {
        enum Colour: String, Encodable { case red }
        var zebra: Int64
        var apple: String?
        var colour: Colour?
        var nested: [Int]
        var flag: Bool
        var ratio: Double
    }

    @Test func membersKeepDeclarationOrderAndAbsentOptionalsAreNull() throws {
        let value = try JSONValueEncoder().encode(Entity(zebra: 1, apple: nil, colour: .red, nested: [1, 2], flag: true, ratio: 0.5))
        #expect(
            String(decoding: value.serialized(), as: UTF8.self)
                == #"{"zebra":1,"apple":null,"colour":"red","nested":[1,2],"flag":true,"ratio":0.5}"#)
    }

    @Test func stringsAreEscapedAsJSONRequiresAndNoMore() throws {
        let value = try JSONValueEncoder().encode(["a/b \"q\" \\ \n\t\u{1} 한글"])
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"["a/b \"q\" \\ \n\t\u0001 한글"]"#)
    }

    @Test func unsignedValuesBeyondInt64AreRefusedNotWrapped() {
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode([UInt64.max]) }
    }

    @Test func onlyObjectsHaveMembers() {
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encodeObject([1, 2]) }
    }

    @Test(arguments: [
        ("[1.5,-2,0]", "[1.5,-2,0]"),
        ("\"\\u00e9\"", "\"é\""),
        ("[true,null,{}]", "[true,null,{}]"),
    ])
    func parsedValuesWriteBackAsJSON(text: String, written: String) throws {
        #expect(String(decoding: try JSONValue.parse(Array(text.utf8)).serialized(), as: UTF8.self) == written)
    }

    @Test func objectsCompareWithoutRegardToMemberOrder() throws {
        let parsed = try JSONValue.parse(Array(#"{"b":1,"a":[true,null,"x"]}"#.utf8))
        #expect(parsed == .object([("a", .array([.bool(true), .null, .string("x")])), ("b", .integer(1))]))
        #expect(parsed != .object([("a", .array([.bool(true), .null, .string("x")])), ("b", .integer(2))]))
    }
}
