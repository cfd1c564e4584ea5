#!/usr/bin/env bash
# Wheels that benchmarks/gpu.py needs on a GPU image that has Python 3.12, torch, torchvision,
# torchaudio, OpenCV, pandas, pyarrow, scikit-learn, PyYAML and tqdm but not PyAV, webdataset or
# jsonschema (the 'cuda' image of the device machines; see benchmarks/README.md, "GPU").
#   bash benchmarks/gpu_wheels.sh [DEST]     (default: .whl)
# Install there without network:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site DEST/*.whl && export PYTHONPATH=/tmp/site
set -euo pipefail
dest="${1:-.whl}"
py="${PYTHON:-python3}"
mkdir -p "$dest"
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dest" \
    av==18.1.0 webdataset==1.0.2 braceexpand==0.1.7 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
    referencing==0.37.0 rpds-py==2026.9.1 attrs==25.4.0
ls -la "$dest"
du -sh "$dest"
