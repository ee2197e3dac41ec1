// swift-tools-version: 6.2
import PackageDescription

/// One settings list for every target: Swift 6 language mode with strict concurrency,
/// plus the upcoming features we want to hold ourselves to.
let sharedSwiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The products we depend on, named once.
extension Target.Dependency {
    static let asyncHTTPClient = product(name: "AsyncHTTPClient", package: "async-http-client")
    static let httpTypes = product(name: "HTTPTypes", package: "swift-http-types")
    static let hummingbird = product(name: "Hummingbird", package: "hummingbird")
    static let hummingbirdCore = product(name: "HummingbirdCore", package: "hummingbird")
    static let hummingbirdTesting = product(name: "HummingbirdTesting", package: "hummingbird")
    static let logging = product(name: "Logging", package: "swift-log")
    static let metrics = product(name: "Metrics", package: "swift-metrics")
    static let metricsTestKit = product(name: "MetricsTestKit", package: "swift-metrics")
    static let nioCore = product(name: "NIOCore", package: "swift-nio")
    static let nioHTTP1 = product(name: "NIOHTTP1", package: "swift-nio")
    static let nioPosix = product(name: "NIOPosix", package: "swift-nio")
    static let prometheus = product(name: "Prometheus", package: "swift-prometheus")
    static let serviceLifecycle = product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
    static let sqlKit = product(name: "SQLKit", package: "sql-kit")
    static let sqliteKit = product(name: "SQLiteKit", package: "sqlite-kit")
    static let sqliteNIO = product(name: "SQLiteNIO", package: "sqlite-nio")
    static let postgresKit = product(name: "PostgresKit", package: "postgres-kit")
    static let unixSignals = product(name: "UnixSignals", package: "swift-service-lifecycle")
    static let tracing = product(name: "Tracing", package: "swift-distributed-tracing")
    static let instrumentation = product(name: "Instrumentation", package: "swift-distributed-tracing")
    static let otel = product(name: "OTel", package: "swift-otel")

    /// Making HTTP calls: the client and the NIO types its API is written in.
    static let httpClientStack: [Target.Dependency] = [.asyncHTTPClient, .nioCore, .nioHTTP1, .nioPosix]
}

let package = Package(
    name: "cinema",
    platforms: [.macOS(.v15)],
    products: CinemaService.all.map { .executable(name: $0.executable, targets: [$0.executable]) }
        + [.executable(name: "gateway", targets: ["gateway"])],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        // For its vendored SQLite (the `SQLite` module's C calls) and the SQLiteData type SQLiteKit encodes to.
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.12.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC trait would bring grpc-swift and its HTTP/2 transport into every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // The C module over Debian's librdkafka-dev. Only `Kafka` may import it.
        .systemLibrary(
            name: "CRdKafka",
            path: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .executableTarget(
            name: "gateway",
            dependencies: ["Gateway"],
            path: "Sources/Executables/gateway",
            swiftSettings: sharedSwiftSettings
        ),
        // The Kafka half of `make bench` (scripts/bench.py). No product: not shipped in the
        // image, not one of the deployed executables the k8s and Dockerfile checks enumerate.
        .executableTarget(
            name: "cinema-bench",
            dependencies: ["Kafka", .logging, .serviceLifecycle],
            path: "Sources/Executables/cinema-bench",
            swiftSettings: sharedSwiftSettings
        ),
        // The OpenAPI document against what the gateway and the five services really route.
        .testTarget(
            name: "OpenAPITests",
            dependencies: ["Gateway", "CinemaTesting", "CinemaPolling", "CinemaJSON", .hummingbird, .hummingbirdTesting, .httpTypes]
                + CinemaService.all.map { .target(name: $0.library) } + Target.Dependency.httpClientStack,
            swiftSettings: sharedSwiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["CinemaJSON", "CinemaPolling"] + Target.Dependency.httpClientStack,
            swiftSettings: sharedSwiftSettings
        ),
    ] + KitModule.all.flatMap(\.targets) + CinemaService.all.flatMap(\.targets)
)

/// The shared plumbing, one library per concern, each with its test target. The gateway uses only
/// JSON, HTTP and observability, so its binary links neither librdkafka nor SQLite.
struct KitModule {
    let name: String
    let dependencies: [Target.Dependency]
    var testDependencies: [Target.Dependency] = []
    var hasTests = true
    /// Files compiled into the library (`.embedInCode`): nothing to ship beside the binary, nothing to go missing.
    var resources: [Resource] = []

    static let all: [KitModule] = [
        // librdkafka as the Swift server ecosystem expects it: typed configuration, producer and
        // consumer as Services, blocking calls off the cooperative pool.
        .init(name: "Kafka", dependencies: ["CRdKafka", .logging, .serviceLifecycle], testDependencies: [.serviceLifecycle]),
        // SQLite connections that run a whole unit of work on a queue of their own, behind SQLKit's interface. The
        // only module that calls SQLite's C functions.
        .init(name: "SQLite", dependencies: [.sqlKit, .sqliteKit, .sqliteNIO, .logging, .nioCore, .nioPosix], testDependencies: [.sqlKit]),
        // JSON values that keep their key order, and the encoder that writes entities into them.
        .init(name: "CinemaJSON", dependencies: []),
        // The event contract: the records, their statuses, the fourteen events and their exact JSON.
        .init(name: "CinemaEvents", dependencies: ["CinemaJSON"]),
        // W3C trace context: the traceparent value, a propagating tracer, the trace id in every log line.
        .init(
            name: "CinemaTracing", dependencies: [.tracing, .instrumentation, .logging], testDependencies: [.tracing, .instrumentation]),
        // What every process sets up, services and gateway: logging, metrics, tracing, the shutdown deadline.
        .init(
            name: "CinemaProcess", dependencies: ["CinemaTracing", .logging, .metrics, .otel, .prometheus, .serviceLifecycle, .tracing],
            hasTests: false),
        // HTTP plumbing: JSON errors, HAL, paging, request fields, probe routes, header names.
        .init(
            name: "CinemaHTTP", dependencies: ["CinemaJSON", .hummingbird, .httpTypes, .logging, .prometheus, .serviceLifecycle, .tracing],
            testDependencies: [.hummingbirdTesting, .serviceLifecycle]),
        // What a service is made of: domain errors, the store, outbox/inbox, consumer, relay, runtime.
        .init(
            name: "CinemaKit",
            dependencies: [
                "CinemaEvents", "CinemaHTTP", "CinemaJSON", "CinemaProcess", "CinemaTracing", "Kafka", "SQLite", .hummingbird, .tracing,
                .httpTypes,
                .unixSignals,
                .logging, .metrics, .prometheus, .serviceLifecycle, .sqlKit, .sqliteKit, .postgresKit,
            ],
            testDependencies: ["CinemaEvents", "CinemaJSON", "CinemaTracing", "Kafka", .prometheus, .sqlKit]
        ),
        // Waiting in tests: a condition polled with a deadline (every test target uses it).
        .init(name: "CinemaPolling", dependencies: [], hasTests: false),
        // What the services' unit tests share: a service over a temporary database, its router,
        // and event delivery through the real processor.
        .init(
            name: "CinemaTesting",
            dependencies: [
                "CinemaKit", "CinemaEvents", "CinemaHTTP", "CinemaJSON", .hummingbird, .hummingbirdTesting, .httpTypes, .logging,
            ],
            hasTests: false
        ),
        // The HTTP gateway on 8088.
        .init(
            name: "Gateway",
            dependencies: [
                "CinemaHTTP", "CinemaJSON", "CinemaProcess", "CinemaTracing", .hummingbird, .hummingbirdCore, .tracing, .httpTypes,
                .logging, .metrics, .prometheus, .serviceLifecycle, .unixSignals,
            ]
                + Target.Dependency.httpClientStack,
            testDependencies: ["CinemaTracing", .hummingbirdTesting, .httpTypes, .metrics, .metricsTestKit, .serviceLifecycle]
                + Target.Dependency.httpClientStack,
            // The OpenAPI document it serves at /openapi.json, in the binary.
            resources: [.embedInCode("openapi.json")]
        ),
    ]

    var targets: [Target] {
        let library = Target.target(name: name, dependencies: dependencies, resources: resources, swiftSettings: sharedSwiftSettings)
        guard hasTests else { return [library] }
        return [
            library,
            .testTarget(
                name: "\(name)Tests",
                dependencies: [.target(name: name), "CinemaPolling", .logging] + testDependencies,
                swiftSettings: sharedSwiftSettings
            ),
        ]
    }
}

/// The five domain services share one shape: a library with the entity, repository, controller,
/// policies and service definition; a thin executable that hands it to the kit; and a test target.
struct CinemaService {
    let library: String
    let executable: String
    var extraDependencies: [Target.Dependency] = []
    var extraTestDependencies: [Target.Dependency] = []
    var resources: [Resource]? = nil

    static let all: [CinemaService] = [
        .init(library: "MovieService", executable: "movie"),
        .init(library: "PaymentService", executable: "payment"),
        .init(
            library: "ReservationService", executable: "reservation",
            extraDependencies: [.serviceLifecycle] + Target.Dependency.httpClientStack,
            // Its tests pay against the real payment service, and ask the real movie service, on loopback.
            extraTestDependencies: ["PaymentService", "MovieService"]
        ),
        .init(library: "MessageService", executable: "message"),
        // The dashboard's page, script and style are real files shipped as the target's resources (the bundle is
        // looked up beside the binary without `Bundle.module`, and scripts/build-release.sh ships it with the binaries).
        .init(
            library: "ViewpageService", executable: "viewpage", extraDependencies: [.serviceLifecycle], resources: [.copy("Dashboard")]),
    ]

    static let kit: [Target.Dependency] = ["CinemaKit", "CinemaEvents", "CinemaHTTP", "CinemaJSON", "CinemaTracing"]

    var targets: [Target] {
        [
            .target(
                name: library,
                dependencies: Self.kit + [.hummingbird, .sqlKit, .logging] + extraDependencies,
                resources: resources,
                swiftSettings: sharedSwiftSettings
            ),
            .executableTarget(
                name: executable,
                dependencies: [.target(name: library), "CinemaKit"],
                path: "Sources/Executables/\(executable)",
                swiftSettings: sharedSwiftSettings
            ),
            .testTarget(
                name: "\(library)Tests",
                dependencies: [.target(name: library), "CinemaTesting", "CinemaPolling", .hummingbirdTesting, .httpTypes, .sqlKit]
                    + Self.kit + extraDependencies + extraTestDependencies,
                swiftSettings: sharedSwiftSettings
            ),
        ]
    }
}
