"""Mirror downloads (resumable, checksum-verified) and safe, idempotent tar extraction.

Typical use (what the CLI does)::

    df = download_all(read_url_list("k400_train.txt"), "downloads/", extract_to="raw/k400")
"""

from avbench.download.mirror import (
    COLUMNS,
    STATUSES,
    ChecksumError,
    DownloadError,
    Entry,
    download_all,
    download_file,
    extract_archive,
    is_tar_name,
    marker_path,
    read_marker,
    read_url_list,
)

__all__ = [
    "COLUMNS",
    "STATUSES",
    "ChecksumError",
    "DownloadError",
    "Entry",
    "download_all",
    "download_file",
    "extract_archive",
    "is_tar_name",
    "marker_path",
    "read_marker",
    "read_url_list",
]
