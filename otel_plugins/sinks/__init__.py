"""Where decided telemetry ends up: the text passthrough, OTLP JSON files, the health endpoint."""
