import NIOCore
import SQLiteNIO
import Synchronization
import VaporCSQLite

/// One open SQLite connection (the C handle) and its prepared statements. Every call is synchronous.
///
/// The handle and the statement cache live in a `Mutex`, taken for each call. It is never contended and never waited
/// on: one unit of work at a time uses a connection (`DedicatedSQLiteConnection` is reached only through the store's
/// locks, and runs every call on its own serial queue). It is there so that the compiler, not a comment, holds the
/// handle to one caller at a time; a statement (a commit's fsync included) runs under it because the statement is
/// the connection's work, not a decision taken beside it.
///
/// The C functions are SQLiteNIO's vendored SQLite (`VaporCSQLite`, its symbols prefixed `sqlite_nio_`): one SQLite
/// in the binary, built with the options SQLiteNIO chose, and nothing to install. Only this module imports it.
final class SQLiteHandle: Sendable {
    private struct State {
        var connection: OpaquePointer?
        /// Prepared once per distinct SQL text and reused (reset after each use): the services run the same few dozen
        /// statements all day, and SQLite's parser was a visible share of a write's time. Bounded, for a caller that
        /// builds SQL with literals in it.
        var statements: [String: OpaquePointer] = [:]
    }

    private let state: Mutex<State>
    private static let cachedStatementLimit = 256

    init(path: String) throws(SQLiteFailure) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI
        var handle: OpaquePointer?
        let status = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let failure = SQLiteFailure(
                code: status, message: handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "cannot open")
            sqlite_nio_sqlite3_close_v2(handle)
            throw failure
        }
        sqlite_nio_sqlite3_extended_result_codes(handle, 1)
        state = Mutex(State(connection: handle))
    }

    deinit { close() }

    /// Runs one statement with `binds`, handing each result row to `onRow`.
    func execute(_ sql: String, binds: [SQLiteData], onRow: (SQLiteResultRow) -> Void) throws(SQLiteFailure) {
        try state.withLock { state throws(SQLiteFailure) in
            guard let connection = state.connection else {
                throw SQLiteFailure(code: SQLITE_MISUSE, message: "the connection is closed")
            }
            let (statement, cached) = try Self.prepare(sql, on: connection, caching: &state.statements)
            defer {
                if cached {
                    sqlite_nio_sqlite3_reset(statement)
                    sqlite_nio_sqlite3_clear_bindings(statement)
                } else {
                    sqlite_nio_sqlite3_finalize(statement)
                }
            }
            for (offset, value) in binds.enumerated() {
                try Self.check(Self.bind(value, at: Int32(offset + 1), of: statement), on: connection)
            }
            var columns: SQLiteColumns?
            while true {
                let status = sqlite_nio_sqlite3_step(statement)
                if status == SQLITE_DONE { return }
                guard status == SQLITE_ROW else { throw SQLiteFailure(code: status, message: Self.message(of: connection)) }
                let names = columns ?? SQLiteColumns(statement)
                columns = names
                var values: [SQLiteData] = []
                values.reserveCapacity(names.count)
                for column in 0..<Int32(names.count) { values.append(try Self.value(at: column, of: statement)) }
                onRow(SQLiteResultRow(columns: names, values: values))
            }
        }
    }

    /// Finalizes every statement and closes the connection; later calls fail. Safe to call twice.
    func close() {
        state.withLock { state in
            for statement in state.statements.values { sqlite_nio_sqlite3_finalize(statement) }
            state.statements = [:]
            sqlite_nio_sqlite3_close_v2(state.connection)
            state.connection = nil
        }
    }

    private static func prepare(
        _ sql: String, on connection: OpaquePointer, caching statements: inout [String: OpaquePointer]
    ) throws(SQLiteFailure) -> (OpaquePointer, cached: Bool) {
        if let statement = statements[sql] { return (statement, true) }
        let cache = statements.count < cachedStatementLimit
        var statement: OpaquePointer?
        let flags = cache ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let status = sqlite_nio_sqlite3_prepare_v3(connection, sql, -1, flags, &statement, nil)
        guard status == SQLITE_OK, let statement else {
            sqlite_nio_sqlite3_finalize(statement)
            throw SQLiteFailure(
                code: status == SQLITE_OK ? SQLITE_MISUSE : status,
                message: status == SQLITE_OK ? "no statement in the SQL text" : Self.message(of: connection))
        }
        if cache { statements[sql] = statement }
        return (statement, cache)
    }

    private static func bind(_ value: SQLiteData, at index: Int32, of statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let integer):
            return sqlite_nio_sqlite3_bind_int64(statement, index, Int64(integer))
        case .float(let double):
            return sqlite_nio_sqlite3_bind_double(statement, index, double)
        case .text(let text):
            // The UTF-8 bytes with their length: a text holding U+0000 is stored whole.
            var text = text
            return text.withUTF8 { bytes in
                sqlite_nio_sqlite3_bind_text64(statement, index, bytes.baseAddress, UInt64(bytes.count), transient, UInt8(SQLITE_UTF8))
            }
        case .blob(let buffer):
            return buffer.withUnsafeReadableBytes { bytes in
                sqlite_nio_sqlite3_bind_blob64(statement, index, bytes.baseAddress, UInt64(bytes.count), Self.transient)
            }
        case .null:
            return sqlite_nio_sqlite3_bind_null(statement, index)
        }
    }

    private static func value(at column: Int32, of statement: OpaquePointer) throws(SQLiteFailure) -> SQLiteData {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
        case SQLITE_FLOAT:
            return .float(sqlite_nio_sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            // By length, not up to the first zero byte.
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            guard let start = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            if let start = sqlite_nio_sqlite3_column_blob(statement, column) {
                buffer.writeBytes(UnsafeRawBufferPointer(start: start, count: count))
            }
            return .blob(buffer)
        case SQLITE_NULL:
            return .null
        case let type:
            throw SQLiteFailure(code: SQLITE_MISMATCH, message: "unknown column type \(type)")
        }
    }

    private static func check(_ status: Int32, on connection: OpaquePointer) throws(SQLiteFailure) {
        guard status == SQLITE_OK else { throw SQLiteFailure(code: status, message: Self.message(of: connection)) }
    }

    private static func message(of connection: OpaquePointer) -> String {
        String(cString: sqlite_nio_sqlite3_errmsg(connection))
    }

    /// SQLite copies the bound bytes before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// A statement's result column names, shared by all of its rows.
final class SQLiteColumns: Sendable {
    let names: [String]
    var count: Int { names.count }

    init(_ statement: OpaquePointer) {
        names = (0..<sqlite_nio_sqlite3_column_count(statement)).map { column in
            sqlite_nio_sqlite3_column_name(statement, column).map { String(cString: $0) } ?? ""
        }
    }

    func index(of name: String) -> Int? { names.firstIndex(of: name) }
}

/// What SQLite said when a call failed: its (extended) result code and message.
public struct SQLiteFailure: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String

    public var description: String { "SQLite error \(code): \(message)" }
}
