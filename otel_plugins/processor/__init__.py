"""`otel-plugins processor`: the line pipeline as an OTLP log processor with state.

    sources.otlp_grpc / sources.otlp_http -> service.LogProcessor -> sinks.otlp_forward

`streams` says which stream a received record belongs to and keeps a `LinePipeline` per
stream; `records` is the pipeline's LogSink over the received protobuf records; `service`
decides batches, bounds what is held and answers senders with a `reply.Reply`.
"""
