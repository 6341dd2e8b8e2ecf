"""Emitters: decided records become OpenTelemetry log records, span events and metrics."""
