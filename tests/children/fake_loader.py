"""Prints what llama-box prints while it loads: a buffer size, percent lines, then ready."""

import sys
import time

print("0.00.000.100 I main: loading model", flush=True)
print("0.00.000.200 I load_tensors:        CUDA0 model buffer size =   100.00 MiB", flush=True)
for percent in range(0, 101, 10):
    print(f"0.00.{percent:03d}.000 I loaded {percent:3d}% model tensors into buffer", flush=True)
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.2)
print("0.01.500.000 I main: starting server", flush=True)
print("0.01.600.000 I srv  log_server_r: request: GET /health 127.0.0.1 200", flush=True)
