"""The HTTP wing: listener, middleware, the forwarded pipeline, key routes, admin, openapi."""
