"""HTTP and WebSocket endpoints: GraphQL over HTTP, subscriptions, exports, headers, serving."""
