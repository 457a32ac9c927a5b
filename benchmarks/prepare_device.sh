#!/usr/bin/env bash
# Prepare `.device/` for benchmarks/on_device.sh (run here, with internet or the npm registry; the GPU
# machine reaches neither): MNIST's four IDX files gzipped (~11 MB) and a copy of tqdm, the one
# pure-Python dependency the device's python3 may lack. Then: run(command="bash benchmarks/on_device.sh",
# carry=[".device"]).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m deep_sparse.data fetch mnist --data-dir .device/data
for f in .device/data/mnist/*-ubyte; do [ -f "$f" ] && gzip -f "$f"; done
mkdir -p .device/pylib
cp -r "$(python -c 'import os, tqdm; print(os.path.dirname(tqdm.__file__))')" .device/pylib/
du -sh .device
