import AsyncHTTPClient
import CinemaJSON
import NIOCore
import NIOHTTP1

/// The dashboard's readiness strip (`GET /health/services`): every instance of every upstream asked for its `/ready`
/// at once, each bounded by `timeout`, so a slow service shows as such instead of hanging the page. The gateway
/// aggregates it because it already reaches every service (the cluster's network policies let nothing else do so),
/// and it knows every replica.
struct ServiceHealth: Sendable {
    let instances: [(upstream: String, instance: String)]
    let timeout: Duration
    let httpClient: HTTPClient

    init(configuration: GatewayConfiguration, httpClient: HTTPClient) {
        var seen: Set<String> = []
        var instances: [(upstream: String, instance: String)] = []
        for route in configuration.routes where !route.streaming {
            for instance in route.upstreams where seen.insert("\(route.upstreamName) \(instance)").inserted {
                instances.append((route.upstreamName, instance))
            }
        }
        self.instances = instances
        self.timeout = configuration.healthTimeout
        self.httpClient = httpClient
    }

    func report() async -> JSONValue {
        let entries = await withTaskGroup(of: (Int, JSONValue).self) { group in
            for (index, target) in instances.enumerated() {
                group.addTask { (index, await probe(upstream: target.upstream, instance: target.instance)) }
            }
            var entries: [(Int, JSONValue)] = []
            for await entry in group { entries.append(entry) }
            return entries.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return .object([("services", .array([Self.entry(name: "gateway", instance: nil, status: "ready", detail: nil)] + entries))])
    }

    private func probe(upstream: String, instance: String) async -> JSONValue {
        do {
            let response = try await httpClient.execute(HTTPClientRequest(url: "\(instance)/ready"), timeout: TimeAmount(timeout))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let ready = response.status == .ok
            return Self.entry(
                name: upstream, instance: instance, status: ready ? "ready" : "not ready", detail: ready ? nil : "\(response.status.code)")
        } catch {
            let failure = UpstreamFailure(error, upstream: "\(upstream) (\(instance))", timeout: timeout)
            return Self.entry(name: upstream, instance: instance, status: "unreachable", detail: failure.message)
        }
    }

    private static func entry(name: String, instance: String?, status: String, detail: String?) -> JSONValue {
        .object([("name", .string(name)), ("instance", .string(instance)), ("status", .string(status)), ("detail", .string(detail))])
    }
}
