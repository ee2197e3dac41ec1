// The unkeyed and single-value containers of `JSONValueEncoder`; the keyed one, which carries
// the null-for-absent rule, is beside the encoder.

struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: ArrayNode
    let codingPath: [any CodingKey]
    var count: Int { node.elements.count }

    private struct Index: CodingKey {
        var intValue: Int?
        var stringValue: String { "\(intValue ?? 0)" }
        init(_ index: Int) { intValue = index }
        init?(intValue: Int) { self.intValue = intValue }
        init?(stringValue: String) { nil }
    }

    private var nextPath: [any CodingKey] { codingPath + [Index(count)] }

    mutating func encodeNil() throws { node.elements.append(.value(.null)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        node.elements.append(try makeNode(for: value, at: nextPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectNode()
        let path = nextPath
        node.elements.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayNode()
        let path = nextPath
        node.elements.append(.array(nested))
        return UnkeyedContainer(node: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let child = TreeEncoder(codingPath: nextPath)
        node.elements.append(.deferred(child))
        return child
    }
}

struct SingleContainer: SingleValueEncodingContainer {
    let encoder: TreeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.setSingle(.value(.null)) }
    mutating func encode(_ value: Bool) throws { encoder.setSingle(.value(.bool(value))) }
    mutating func encode(_ value: String) throws { encoder.setSingle(.value(.string(value))) }
    mutating func encode(_ value: Double) throws { encoder.setSingle(.value(.number(value))) }
    mutating func encode(_ value: Float) throws { encoder.setSingle(.value(.number(Double(value)))) }
    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.setSingle(try makeNode(for: value, at: codingPath))
    }

    private func encodeInteger(_ value: some BinaryInteger) throws {
        encoder.setSingle(.value(try integer(value, at: codingPath)))
    }
}
