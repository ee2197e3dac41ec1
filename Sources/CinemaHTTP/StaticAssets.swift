public import Foundation
public import HTTPTypes
public import Hummingbird

/// Files shipped beside a binary (a page, its script and style), read once at start and served from memory with their
/// Content-Type, a strong ETag (`If-None-Match` gets 304) and `Cache-Control: no-cache` (the browser keeps them and
/// revalidates, so a new release shows at once).
///
/// A missing directory is no crash: the set is empty and every asset answers a JSON 404 that says so.
public struct StaticAssets: Sendable {
    public struct Asset: Sendable {
        public let bytes: [UInt8]
        public let contentType: String
        public let etag: String
    }

    public let directory: URL?
    public let assets: [String: Asset]

    /// Reads the regular files directly in `directory` (no subfolders, no dotfiles). `nil` or unreadable: empty.
    public init(directory: URL?) {
        self.directory = directory
        var assets: [String: Asset] = [:]
        let names = directory.flatMap { try? FileManager.default.contentsOfDirectory(atPath: $0.path) } ?? []
        for name in names where !name.hasPrefix(".") {
            guard let directory, let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
            else { continue }
            let bytes = [UInt8](data)
            assets[name] = Asset(bytes: bytes, contentType: Self.contentType(forName: name), etag: Self.etag(of: bytes))
        }
        self.assets = assets
    }

    /// The first of `candidates` that exists as a directory.
    public static func firstDirectory(_ candidates: [URL?]) -> URL? {
        candidates.compactMap { $0 }.first { url in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Where SwiftPM puts a target's resources beside the executable (`<package>_<target>.resources`), looked up without
    /// the generated `Bundle.module`, which stops the process when the bundle is missing.
    public static func resourceDirectory(package: String, target: String, subdirectory: String) -> URL? {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        let candidates = [Bundle.main.executableURL?.deletingLastPathComponent(), executable.deletingLastPathComponent()]
        return firstDirectory(
            candidates.map { $0?.appendingPathComponent("\(package)_\(target).resources").appendingPathComponent(subdirectory) })
    }

    /// The answer for asset `name`, or the JSON 404.
    public func response(for name: String, request: Request) throws -> Response {
        guard let asset = assets[name] else {
            let reason = assets.isEmpty ? " (no assets are installed beside this binary)" : ""
            throw APIError(.notFound, "no asset \(name)\(reason)")
        }
        var headers = HTTPFields()
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        if let ifNoneMatch = request.headers[.ifNoneMatch],
            ifNoneMatch.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag || $0 == "*" })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        headers[.contentLength] = String(asset.bytes.count)
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    static func contentType(forName name: String) -> String {
        switch name.split(separator: ".").last.map({ $0.lowercased() }) {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "json": "application/json"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "txt": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    /// FNV-1a over the bytes with their length: stable across processes and replicas (unlike `Hasher`), so every
    /// replica gives one file the same tag.
    static func etag(of bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "\"\(String(hash, radix: 16))-\(String(bytes.count, radix: 16))\""
    }
}
