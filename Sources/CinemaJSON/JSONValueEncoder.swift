/// Encodes an `Encodable` value into a `JSONValue`, keeping object members in the order the value
/// encodes them (for synthesized conformances: the order the properties are declared in) and
/// writing absent optionals as `null` rather than leaving the key out.
///
/// Both matter for the wire format: the original system's readers compare event fields in order,
/// and its Jackson output wrote `"payId":null`. With this encoder an entity's fields are spelled
/// once, in its declaration, and its events and HAL documents follow from it.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> JSONValue {
        let encoder = TreeEncoder(codingPath: [])
        try value.encode(to: encoder)
        return encoder.result
    }

    /// The members of a value that encodes as an object (a struct or class).
    public func encodeObject(_ value: some Encodable) throws -> [(String, JSONValue)] {
        guard case .object(let members) = try encode(value) else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: [], debugDescription: "\(type(of: value)) does not encode as a JSON object"))
        }
        return members
    }
}

// MARK: - The tree the containers write into

/// Containers hold references into the tree, so that a nested container written after its parent
/// was created still lands in the parent.
final class ObjectNode {
    var members: [(String, Node)] = []

    func set(_ node: Node, for key: String) {
        if let index = members.firstIndex(where: { $0.0 == key }) {
            members[index].1 = node
        } else {
            members.append((key, node))
        }
    }
}

final class ArrayNode {
    var elements: [Node] = []
}

enum Node {
    case value(JSONValue)
    case object(ObjectNode)
    case array(ArrayNode)
    /// Filled by a child encoder once the nested value has encoded itself.
    case deferred(TreeEncoder)

    var json: JSONValue {
        switch self {
        case .value(let value): value
        case .object(let node): .object(node.members.map { ($0.0, $0.1.json) })
        case .array(let node): .array(node.elements.map(\.json))
        case .deferred(let encoder): encoder.result
        }
    }
}

final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    private var root: Node?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    /// A value that encoded nothing at all is an empty object, as for JSONEncoder's `{}`.
    var result: JSONValue { root?.json ?? .object([]) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let node: ObjectNode
        if case .object(let existing) = root {
            node = existing
        } else {
            node = ObjectNode()
            root = .object(node)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let node: ArrayNode
        if case .array(let existing) = root {
            node = existing
        } else {
            node = ArrayNode()
            root = .array(node)
        }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(encoder: self)
    }

    func setSingle(_ node: Node) {
        root = node
    }
}

/// Turns one leaf or nested value into a node.
func makeNode(for value: some Encodable, at codingPath: [any CodingKey]) throws -> Node {
    switch value {
    case let value as String: return .value(.string(value))
    case let value as Bool: return .value(.bool(value))
    case let value as Int64: return .value(.integer(value))
    case let value as Int: return .value(.integer(Int64(value)))
    case let value as Int32: return .value(.integer(Int64(value)))
    case let value as Double: return .value(.number(value))
    default:
        let child = TreeEncoder(codingPath: codingPath)
        try value.encode(to: child)
        return .deferred(child)
    }
}

func integer(_ value: some BinaryInteger, at codingPath: [any CodingKey]) throws -> JSONValue {
    guard let exact = Int64(exactly: value) else {
        throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) does not fit in 64 bits"))
    }
    return .integer(exact)
}

// MARK: - Containers

struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: ObjectNode
    let codingPath: [any CodingKey]

    private func path(_ key: Key) -> [any CodingKey] { codingPath + [key] }

    mutating func encodeNil(forKey key: Key) throws { node.set(.value(.null), for: key.stringValue) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { node.set(.value(.bool(value)), for: key.stringValue) }
    mutating func encode(_ value: String, forKey key: Key) throws { node.set(.value(.string(value)), for: key.stringValue) }
    mutating func encode(_ value: Double, forKey key: Key) throws { node.set(.value(.number(value)), for: key.stringValue) }
    mutating func encode(_ value: Float, forKey key: Key) throws { node.set(.value(.number(Double(value))), for: key.stringValue) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeInteger(value, key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        node.set(try makeNode(for: value, at: path(key)), for: key.stringValue)
    }

    private func encodeInteger(_ value: some BinaryInteger, _ key: Key) throws {
        node.set(.value(try integer(value, at: path(key))), for: key.stringValue)
    }

    // Synthesized conformances call these for optionals; the defaults would leave the key out.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeOptional(value, key) }

    private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectNode()
        node.set(.object(nested), for: key.stringValue)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: nested, codingPath: path(key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayNode()
        node.set(.array(nested), for: key.stringValue)
        return UnkeyedContainer(node: nested, codingPath: path(key))
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key.stringValue) }

    private func superEncoder(named name: String) -> any Encoder {
        let child = TreeEncoder(codingPath: codingPath)
        node.set(.deferred(child), for: name)
        return child
    }
}
