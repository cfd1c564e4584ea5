"""Progress bars (tqdm) that go to stderr, so that Snakemake logs show long stages advancing."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def progress_bar(*, total: int | None = None, desc: str = "", enabled: bool = True, **kw: Any) -> tqdm:
    """A tqdm bar on stderr; when stderr is not a terminal (a log file) it updates every ~10 s."""
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        disable=not enabled,
        file=sys.stderr,
        mininterval=0.5 if interactive else 10.0,
        dynamic_ncols=interactive,
        **kw,
    )
