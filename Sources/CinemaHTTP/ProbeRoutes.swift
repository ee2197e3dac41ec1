public import CinemaJSON
public import Hummingbird
public import Prometheus

/// Named checks behind `GET /ready`.
public struct Readiness: Sendable {
    public typealias Check = @Sendable () async -> Bool

    public var checks: [(name: String, check: Check)]

    public init(checks: [(name: String, check: Check)]) {
        self.checks = checks
    }

    public static let alwaysReady = Readiness(checks: [])

    func evaluate() async -> [(name: String, isUp: Bool)] {
        var results: [(name: String, isUp: Bool)] = []
        for (name, check) in checks { results.append((name, await check())) }
        return results
    }
}

extension RouterMethods {
    /// `GET /health` (liveness: the process answers), `GET /ready` (every readiness check passes,
    /// else 503 naming the failing one) and, with a registry, `GET /metrics` for Prometheus.
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
