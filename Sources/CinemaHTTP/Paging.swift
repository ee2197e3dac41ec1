public import Hummingbird

/// `?page=&size=` as Spring Data REST reads them: zero-based page, default size 20, at most 2000.
public struct PageRequest: Sendable, Equatable {
    public let number: Int
    public let size: Int
    /// Where the page starts; `number * size` never overflows, because a page that far out is
    /// refused when the request is read.
    public let offset: Int

    public static let defaultSize = 20
    public static let maximumSize = 2000

    /// `size` is clamped to 1...maximumSize and `number` to what keeps the offset representable.
    public init(number: Int = 0, size: Int = PageRequest.defaultSize) {
        let size = min(max(size, 1), Self.maximumSize)
        let number = min(max(number, 0), Int.max / size - 1)
        self.number = number
        self.size = size
        self.offset = number * size
    }

    public init(request: Request) throws {
        let query = request.uri.queryParameters
        var size = Self.defaultSize
        if let text = query["size"] {
            guard let value = Int(text), value >= 1 else {
                throw APIError.badRequest("size must be a positive integer, got \"\(text)\"", field: "size")
            }
            size = min(value, Self.maximumSize)
        }
        var number = 0
        if let text = query["page"] {
            guard let value = Int(text), value >= 0 else {
                throw APIError.badRequest("page must be a non-negative integer, got \"\(text)\"", field: "page")
            }
            // The next page's number and the offset must both stay representable.
            guard value < Int.max / size - 1 else {
                throw APIError.badRequest("page \(text) is beyond any collection", field: "page")
            }
            number = value
        }
        self.init(number: number, size: size)
    }
}

public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var request: PageRequest
    public var totalElements: Int

    public init(items: [Item], request: PageRequest, totalElements: Int) {
        self.items = items
        self.request = request
        self.totalElements = totalElements
    }

    public var totalPages: Int {
        totalElements == 0 ? 0 : (totalElements - 1) / request.size + 1
    }
}
