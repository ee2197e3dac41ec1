public import CinemaJSON
public import Hummingbird
public import Prometheus

/// Named checks behind `GET /ready`, and named details it shows without judging them.
public struct Readiness: Sendable {
    public typealias Check = @Sendable () async -> Bool
    /// A value worth seeing next to the checks (a circuit breaker's state) that must not take the
    /// process out of service: an open breaker means a dependency is sick, and a replica that
    /// stopped taking traffic for it would only move the load to the others.
    public typealias Detail = @Sendable () async -> String

    public var checks: [(name: String, check: Check)]
    public var details: [(name: String, detail: Detail)]

    public init(checks: [(name: String, check: Check)], details: [(name: String, detail: Detail)] = []) {
        self.checks = checks
        self.details = details
    }

    public static let alwaysReady = Readiness(checks: [])

    func evaluate() async -> [(name: String, isUp: Bool)] {
        var results: [(name: String, isUp: Bool)] = []
        for (name, check) in checks { results.append((name, await check())) }
        return results
    }

    func describe() async -> [(name: String, value: String)] {
        var values: [(name: String, value: String)] = []
        for (name, detail) in details { values.append((name, await detail())) }
        return values
    }
}

extension RouterMethods {
    /// `GET /health` (liveness: the process answers), `GET /ready` (every readiness check passes,
    /// else 503 naming the failing one; `details` informs and never fails it) and, with a
    /// registry, `GET /metrics` for Prometheus.
    public func addProbeRoutes(service: String, readiness: Readiness, metrics: PrometheusCollectorRegistry?) {
        get("health") { _, _ in
            JSONResponse.make(.object([("status", .string("UP")), ("service", .string(service))]))
        }
        get("ready") { _, _ -> Response in
            let results = await readiness.evaluate()
            let ready = results.allSatisfy(\.isUp)
            var members: [(String, JSONValue)] = [("status", .string(ready ? "UP" : "DOWN")), ("service", .string(service))]
            if !results.isEmpty {
                members.append(("checks", .object(results.map { ($0.name, .string($0.isUp ? "UP" : "DOWN")) })))
            }
            let details = await readiness.describe()
            if !details.isEmpty {
                members.append(("details", .object(details.map { ($0.name, .string($0.value)) })))
            }
            return JSONResponse.make(.object(members), status: ready ? .ok : .serviceUnavailable)
        }
        if let metrics {
            get("metrics") { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
                )
            }
        }
    }
}
