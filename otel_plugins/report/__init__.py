"""`otel-plugins report`: what the policy would do to a user's own logs, before they deploy it.

Data flows one way: `aggregate` feeds each input through the shared `LinePipeline` and sums
up its decisions (with `timeline` for each stream's load) into the plain data of `model`;
`render_text`, `render_json` and `render_html` (with `chart`, inline SVG) only read it.
"""
