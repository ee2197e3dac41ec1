import Hummingbird
import NIOCore

/// `GET /openapi.json`: the OpenAPI 3.1 document of the public API, `openapi.json` beside this file. SwiftPM compiles
/// it into the binary (`.embedInCode`), so no resource has to be shipped beside the executable or found at run time.
/// `OpenAPITests` holds it to the routes the gateway and the services really serve.
extension RouterMethods {
    func addOpenAPIRoute() {
        let document = ByteBuffer(bytes: PackageResources.openapi_json)
        get("openapi.json") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json", .contentLength: String(document.readableBytes)],
                body: ResponseBody(byteBuffer: document)
            )
        }
    }
}
