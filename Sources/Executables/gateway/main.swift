import Gateway

await GatewayRuntime.main()
