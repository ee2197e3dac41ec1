import AsyncHTTPClient
import CinemaJSON
import CinemaPolling
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Tracing and metrics against the real processes and a real broker: one reservation's saga is one trace in every
/// event's `traceparent` header and in every process's log, `scripts/trace.py` (what `make trace` runs) finds it in
/// the harness's logs and topic, and every metric the Grafana dashboard queries is in a real `/metrics` scrape.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ObservabilityTests {
    static let traceID = "0af7651916cd43dd8448eb211c80319c"
    static let sagaEvents = ["PaymentApproved", "ReservationCreated", "ReservationConfirmed", "MovieReserved"]

    @Test func oneReservationIsOneTraceAcrossProcessesAndTheDashboardsMetricsAreExported() async throws {
        try await CinemaCluster.with { cluster in
            try await checkTheSagaIsOneTrace(cluster)
            try await checkTheDashboardsMetricsAreExported(cluster)
        }
    }

    /// With `OTEL_TRACES_EXPORTER=otlp` every process exports its spans (swift-otel, OTLP/HTTP) to the collector the
    /// standard variables name; here a small HTTP server that keeps what it is sent.
    @Test func withOTLPExportTheSagasSpansReachTheCollector() async throws {
        let port = freePort()
        let received = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(UUID().uuidString).txt")
        let collector = try ManagedProcess(
            name: "otlp-collector", executable: URL(fileURLWithPath: "/usr/bin/env"),
            arguments: ["python3", "-c", Self.collector, String(port), received.path],
            environment: CinemaCluster.baseEnvironment,
            logURL: FileManager.default.temporaryDirectory.appendingPathComponent("otlp-collector-\(port).log"))
        _ = try await eventually("the collector listens") { try await CinemaCluster.send(.GET, "http://127.0.0.1:\(port)/", body: nil) }
        let environment = [
            "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(port)",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "200",
        ]
        do {
            try await CinemaCluster.with(environment: environment) { cluster in
                try await reserveInTrace(cluster)
                // OTLP/JSON writes ids in hex; a protobuf-JSON encoder may write them in base64: either is the trace.
                let base64 = Data(
                    stride(from: 0, to: 32, by: 2).map { offset -> UInt8 in
                        let start = Self.traceID.index(Self.traceID.startIndex, offsetBy: offset)
                        return UInt8(Self.traceID[start..<Self.traceID.index(start, offsetBy: 2)], radix: 16) ?? 0
                    }
                ).base64EncodedString()
                _ = try await eventually("spans of the trace from gateway, reservation and payment", timeout: .seconds(30)) { () -> Bool? in
                    let text = (try? String(contentsOf: received, encoding: .utf8)) ?? ""
                    let ofTrace = text.split(separator: "\n").filter { $0.contains(Self.traceID) || $0.contains(base64) }
                    let services = ["cinema-gateway", "cinema-reservation", "cinema-payment"]
                    return services.allSatisfy { name in ofTrace.contains { $0.contains(name) } } ? true : nil
                }
                #expect(((try? String(contentsOf: received, encoding: .utf8)) ?? "").hasPrefix("/v1/traces "))
            }
        } catch {
            await collector.stop()
            throw error
        }
        await collector.stop()
    }

    /// Appends `<path> <body>` of every POST to the file it is given, and answers `{}`.
    static let collector = """
        import http.server, sys
        class Collector(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with open(sys.argv[2], "ab") as out:
                    out.write(self.path.encode() + b" " + body.replace(b"\\n", b" ") + b"\\n")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            def log_message(self, *arguments):
                pass
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Collector).serve_forever()
        """

    /// Registers a movie and reserves it through the gateway with our `traceparent`; returns the answer's status
    /// and headers.
    func reserveInTrace(_ cluster: CinemaCluster) async throws -> (status: UInt, headers: HTTPHeaders) {
        #expect(try await cluster.request(.POST, "/movies", body: #"{"desc":"Traced"}"#).status == 201)
        // The reservation service learns the movie from its event (or asks the movie service); 422 until then.
        // A client of its own with tracing off: HTTPClient.shared takes whatever tracer the test process bootstrapped
        // (other suites bootstrap one) and would add a `traceparent` of its own beside ours.
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = nil
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let sent: Result<(status: UInt, headers: HTTPHeaders), any Error>
        do {
            sent = .success(
                try await eventually("reservation accepted") { () -> (status: UInt, headers: HTTPHeaders)? in
                    var request = HTTPClientRequest(url: cluster.gatewayURL + "/reservations")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.headers.add(name: "traceparent", value: "00-\(Self.traceID)-b7ad6b7169203331-01")
                    request.body = .bytes(ByteBuffer(string: #"{"movieId":1}"#))
                    let response = try await client.execute(request, timeout: .seconds(15))
                    _ = try await response.body.collect(upTo: 1024 * 1024)
                    return response.status.code == 422 ? nil : (response.status.code, response.headers)
                })
        } catch {
            sent = .failure(error)
        }
        try await client.shutdown()
        let reservation = try sent.get()
        #expect(reservation.status == 201)
        return reservation
    }

    func checkTheSagaIsOneTrace(_ cluster: CinemaCluster) async throws {
        let reservation = try await reserveInTrace(cluster)
        // The gateway answers the trace it continued, with its own span.
        let answered = try #require(reservation.headers.first(name: "traceresponse"))
        #expect(answered.hasPrefix("00-\(Self.traceID)-"))
        #expect(!answered.contains("b7ad6b7169203331"))

        // Every event of the saga carries the trace in its headers, whichever process published it; the JSON is as before.
        let traced = try await eventually("the saga's events on the topic") { () -> [(value: String, headers: String)]? in
            let events = try await cluster.eventsWithHeaders().filter { $0.headers.contains("traceparent=00-\(Self.traceID)-") }
            let types = Set(events.compactMap { Self.eventType(of: $0.value) })
            return Set(Self.sagaEvents).isSubset(of: types) ? events : nil
        }
        for event in traced {
            #expect(!event.value.contains("trace"), "trace context travels in headers only: \(event.value)")
        }
        // Each published by a different span (the one that recorded it), so the span ids differ.
        let spans = traced.compactMap { Self.header("traceparent", in: $0.headers) }
        #expect(Set(spans).count == spans.count)

        // Every process logged something of it: the gateway its request, each service its part of the saga.
        for name in ["gateway", "reservation", "payment", "movie", "message", "viewpage"] {
            _ = try await eventually("\(name) logs trace.id") { () -> Bool? in
                let log = (try? String(contentsOf: cluster.directory.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
                return log.contains("trace.id=\(Self.traceID)") ? true : nil
            }
        }

        // What `make trace ID=` prints, run on the harness's logs and broker.
        let output = cluster.directory.appendingPathComponent("trace-output.txt")
        let script = CinemaCluster.packageRoot.appendingPathComponent("scripts/trace.py")
        let trace = try ManagedProcess(
            name: "trace", executable: URL(fileURLWithPath: "/usr/bin/env"),
            arguments: [
                "python3", script.path, Self.traceID, "--logs", cluster.directory.path, "--kcat", CinemaCluster.kcat.path,
                "--brokers", cluster.brokerAddress, "--topic", "cinema",
            ],
            environment: CinemaCluster.baseEnvironment, logURL: output)
        #expect(try await trace.exitStatus(within: .seconds(40)) == 0)
        let printed = try String(contentsOf: output, encoding: .utf8)
        for name in ["gateway", "reservation", "payment", "movie", "message", "viewpage"] {
            #expect(printed.contains("\n\(name) ") || printed.contains("\n\(name)|"), "trace output names \(name)")
        }
        for type in Self.sagaEvents {
            #expect(printed.contains(" \(type) {\"eventType\":\"\(type)\""), "trace output lists \(type)")
        }
        // Nothing of another trace.
        let otherTraces = printed.split(separator: "\n").filter { $0.contains("trace.id=") && !$0.contains("trace.id=\(Self.traceID)") }
        #expect(otherTraces.isEmpty)
    }

    func checkTheDashboardsMetricsAreExported(_ cluster: CinemaCluster) async throws {
        // A poison message, so that the dead-letter series exist; and an error answer.
        try await cluster.produce(["not an event"], key: "1")
        #expect(try await cluster.request(.GET, "/movies/999").status == 404)
        let dashboard = try Data(contentsOf: CinemaCluster.packageRoot.appendingPathComponent("k8s/observability/grafana-dashboard.json"))
        let names = Self.metricNames(inDashboard: try JSONValue.parse(Array(dashboard)))
        #expect(names.count >= 15, "the dashboard's metric names: \(names.sorted())")
        let missing = try await eventually("every dashboard metric in a scrape", timeout: .seconds(40)) { () -> Set<String>? in
            var scraped = ""
            for name in ["gateway", "reservation", "payment", "movie", "message", "viewpage"] {
                scraped += try await cluster.direct(name, "/metrics").text
            }
            let missing = names.filter { name in !scraped.contains("\n\(name){") && !scraped.contains("\n\(name) ") }
            return missing.isEmpty ? missing : nil
        }
        #expect(missing.isEmpty)
    }

    static func eventType(of json: String) -> String? {
        guard case .string(let type)? = (try? JSONValue.parse(Array(json.utf8)))?["eventType"] else { return nil }
        return type
    }

    /// A header's value in kcat's `%h` output (`key=value` joined with `,`).
    static func header(_ key: String, in headers: String) -> String? {
        headers.split(separator: ",").first { $0.hasPrefix("\(key)=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    /// The metric names the dashboard's PromQL reads: what is left once label matchers, ranges, grouping clauses
    /// and functions are taken out.
    static func metricNames(inDashboard dashboard: JSONValue) -> Set<String> {
        guard case .array(let panels)? = dashboard["panels"] else { return [] }
        var expressions: [String] = []
        for panel in panels {
            guard case .array(let targets)? = panel["targets"] else { continue }
            for target in targets {
                if case .string(let expression)? = target["expr"] { expressions.append(expression) }
            }
        }
        let keywords: Set<String> = [
            "sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile", "by", "without", "le",
        ]
        var names: Set<String> = []
        for expression in expressions {
            var text = expression
            for pattern in [#"\{[^}]*\}"#, #"\[[^\]]*\]"#, #"\b(by|without)\s*\([^)]*\)"#] {
                text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
            }
            let identifiers = text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") })
            for identifier in identifiers where identifier.first?.isLetter == true && !keywords.contains(String(identifier)) {
                names.insert(String(identifier))
            }
        }
        return names
    }
}
