#!/usr/bin/env bash
# Prepare `.device/` for benchmarks/on_device.sh (run here, with internet or the npm registry; the GPU
# machine reaches neither): MNIST's four IDX files gzipped (~11 MB) and copies of the pure-Python
# dependencies the device's python3 lacks: tqdm, and pooch with its platformdirs (deep_sparse.data
# imports pooch; without it the 2026-11-29 device call stopped at the import).
# Then: run(command="bash benchmarks/on_device.sh", carry=[".device"]).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m deep_sparse.data fetch mnist --data-dir .device/data
for f in .device/data/mnist/*-ubyte; do [ -f "$f" ] && gzip -f "$f"; done
mkdir -p .device/pylib
for module in tqdm pooch platformdirs; do
  cp -r "$(python -c "import os, $module; print(os.path.dirname($module.__file__))")" .device/pylib/
done
du -sh .device
