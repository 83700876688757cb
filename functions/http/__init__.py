"""The HTTP edge: routes, request parsing, and meaningful errors mapped to HTTP answers."""
