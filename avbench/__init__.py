"""avbench: reproducible data preparation and benchmarks for self-supervised audio-visual learning.

Importing the package pins the CPU kernels that make numbers differ between machines of one kind:
oneDNN (PyTorch's convolutions on the CPU) picks its kernels by the CPU's instruction set, and the
AVX-512 kernels it picks on an AVX-512 CPU give other weights than the AVX2 kernels of a CPU
without it (every x86-64 machine avbench targets has AVX2). ``ONEDNN_MAX_CPU_ISA=AVX2`` makes every
such machine run the same kernels; it must be set before torch is imported, and a value the user
set is kept (``ONEDNN_MAX_CPU_ISA=ALL`` restores oneDNN's own choice). What it costs in speed is
measured by ``benchmarks/determinism.py``.
"""

import os

__version__ = "0.1.0"

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")


def pinned_environment() -> dict[str, str]:
    """What a result depends on beyond the code and the data: the CPU kernel pin and the versions of
    the packages that compute (for the result rows' provenance)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "")}
    for pkg in (
        "torch",
        "torchvision",
        "torchaudio",
        "numpy",
        "scikit-learn",
        "av",
        "opencv-python-headless",
        "webdataset",
        "pandas",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = ""
    return out
