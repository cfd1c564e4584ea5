"""avbench.download: resumable, verified downloads from a local HTTP server, and safe extraction."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from avbench.download import (
    ChecksumError,
    DownloadError,
    Entry,
    download_all,
    download_file,
    extract_archive,
    read_marker,
    read_url_list,
)


# ------------------------------------------------------------------------------------------ fixtures


class _State:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode = "normal"  # normal | drop_first | ignore_range
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    state: _State  # set on a per-server subclass

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        st = self.state
        rng = self.headers.get("Range")
        with st.lock:
            first = not any(p == self.path for p, _ in st.requests)
            st.requests.append((self.path, rng))
        body = st.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if st.mode == "drop_first" and first:
            # promise the whole file, send half, then close the connection
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and st.mode != "ignore_range":
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server:
    def __init__(self) -> None:
        self.state = _State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, name: str, data: bytes) -> str:
        self.state.files["/" + name] = data
        return f"{self.base}/{name}"

    def count(self, name: str) -> int:
        return sum(1 for p, _ in self.state.requests if p == "/" + name)

    def ranges(self, name: str) -> list[str | None]:
        return [r for p, r in self.state.requests if p == "/" + name]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = _Server()
    try:
        yield srv
    finally:
        srv.close()


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def good_archive() -> bytes:
    rand = os.urandom(200_000)  # incompressible, so the .tar.gz is big enough to split
    return _tar_gz(
        [
            _file("clips/a.txt", b"alpha"),
            _file("clips/sub/b.txt", b"beta"),
            _file("clips/noise.bin", rand),
            _link("clips/a_link.txt", "a.txt"),
        ]
    )


def evil_archive(tmp_path: Path) -> bytes:
    dev = tarfile.TarInfo("dev_null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    return _tar_gz(
        [
            _file("ok.txt", b"fine"),
            _file("../evil.txt", b"evil"),
            _file("/tmp/evil_abs.txt", b"evil"),
            _file(str(tmp_path / "evil_abs_tmp.txt"), b"evil"),
            _link("passwd", "/etc/passwd"),
            _link("up", "../../outside"),
            _link("hard_passwd", "/etc/passwd", tarfile.LNKTYPE),
            (dev, None),
            # ordering trick: 'e' looks harmless until 'q' becomes a link to '.', then e -> out_dir/..
            _link("e", "q/.."),
            _link("q", "."),
            _file("e/evil2.txt", b"evil"),
        ]
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------- read_url_list


def test_read_url_list(tmp_path):
    md5 = hashlib.md5(b"x").hexdigest()
    sha = sha256(b"y")
    lst = tmp_path / "urls.txt"
    lst.write_text(
        f"# CVDF Kinetics mirror\n\nhttps://h/k400_targz/train/part_0.tar.gz {md5}\n"
        f"https://h/k400_targz/train/part_1.tar.gz,{sha.upper()}  # trailing comment\n"
        "https://h/k400_targz/val/part_2.tar.gz\n"
        "  https://h/k400_targz/test/part_3.tar.gz  \n"
    )
    entries = read_url_list(lst)
    assert [e.name for e in entries] == ["part_0.tar.gz", "part_1.tar.gz", "part_2.tar.gz", "part_3.tar.gz"]
    assert (entries[0].algo, entries[0].checksum) == ("md5", md5)
    assert (entries[1].algo, entries[1].checksum) == ("sha256", sha)
    assert entries[2].checksum is None and entries[2].algo is None and not entries[2].verified
    with pytest.raises(AttributeError):
        entries[0].url = "x"  # frozen

    rel = tmp_path / "rel.csv"
    rel.write_text(f"url,checksum\nk400_targz/train/part_0.tar.gz,{md5}\n")
    assert (
        read_url_list(rel, base_url="https://mirror/kinetics")[0].url
        == "https://mirror/kinetics/k400_targz/train/part_0.tar.gz"
    )
    with pytest.raises(ValueError):
        read_url_list(rel)  # relative URL without base_url

    for bad in (
        "https://h/a/..",
        "https://h/a/.",
        "https://h/",
        "https://h/a/%2e%2e",
        "https://h/x%2Fy.tar",
        f"https://h/a.tar {md5[:-1]}",
        f"https://h/a.tar {md5} extra",
    ):
        f = tmp_path / "bad.txt"
        f.write_text(bad + "\n")
        with pytest.raises(ValueError, match="bad.txt:1"):
            read_url_list(f)
    with pytest.raises(ValueError):
        Entry("https://h/x", sha256(b"x"), "md5")  # algo disagrees with the digest length


# -------------------------------------------------------------------------------------- download_file


def test_download_plain_then_cached(server, tmp_path):
    data = good_archive()
    url = server.add("part_0.tar.gz", data)
    dest = tmp_path / "dl" / "part_0.tar.gz"
    assert download_file(url, dest, checksum=sha256(data), timeout=5) == dest
    assert dest.read_bytes() == data and not dest.with_name("part_0.tar.gz.part").exists()
    assert server.count("part_0.tar.gz") == 1
    # second call: checksum matches, no request at all (md5 works too)
    download_file(url, dest, checksum=hashlib.md5(data).hexdigest(), algo=None, timeout=5)
    download_file(url, dest, checksum=sha256(data), timeout=5)
    assert server.count("part_0.tar.gz") == 1


def test_resume_after_dropped_connection(server, tmp_path):
    data = good_archive()
    url = server.add("part_1.tar.gz", data)
    server.state.mode = "drop_first"
    dest = tmp_path / "part_1.tar.gz"
    download_file(url, dest, checksum=sha256(data), timeout=5, retries=3)
    assert dest.read_bytes() == data
    ranges = server.ranges("part_1.tar.gz")
    assert len(ranges) == 2 and ranges[0] is None and ranges[1] == f"bytes={len(data) // 2}-"


def test_server_ignoring_range_restarts(server, tmp_path):
    data = good_archive()
    url = server.add("part_2.tar.gz", data)
    server.state.mode = "ignore_range"
    dest = tmp_path / "part_2.tar.gz"
    (tmp_path / "part_2.tar.gz.part").write_bytes(b"garbage that must not stay at the front")
    download_file(url, dest, checksum=sha256(data), timeout=5)
    assert dest.read_bytes() == data
    assert server.ranges("part_2.tar.gz")[0].startswith("bytes=")


def test_complete_part_is_not_refetched(server, tmp_path):
    data = good_archive()
    url = server.add("part_3.tar.gz", data)
    (tmp_path / "part_3.tar.gz.part").write_bytes(data)  # interrupted right before the rename
    download_file(url, tmp_path / "part_3.tar.gz", checksum=sha256(data), timeout=5)
    assert (tmp_path / "part_3.tar.gz").read_bytes() == data
    assert server.ranges("part_3.tar.gz") == [f"bytes={len(data)}-"]  # answered 416: already whole


def test_bad_checksum_leaves_nothing(server, tmp_path):
    data = good_archive()
    url = server.add("bad.tar.gz", data)
    dest = tmp_path / "bad.tar.gz"
    wrong = sha256(b"something else")
    with pytest.raises(ChecksumError) as err:
        download_file(url, dest, checksum=wrong, timeout=5)
    msg = str(err.value)
    assert "bad.tar.gz" in msg and wrong in msg and sha256(data) in msg and "\n" not in msg
    assert isinstance(err.value, ValueError)
    assert list(tmp_path.iterdir()) == []


def test_http_404_and_unreachable(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_file(f"{server.base}/missing.tar", tmp_path / "missing.tar", timeout=5)
    assert server.count("missing.tar") == 1  # a 4xx is not retried
    # nothing listens on this port any more: retried, then a one-line DownloadError
    srv = _Server()
    base = srv.base
    srv.close()
    with pytest.raises(DownloadError, match="giving up after 1 retries"):
        download_file(f"{base}/x.tar", tmp_path / "x.tar", timeout=2, retries=1)
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------- extraction


def _outside_files(root: Path, allowed: list[Path]) -> list[Path]:
    return [p for p in root.rglob("*") if not any(p == a or a in p.parents for a in allowed)]


def test_extract_idempotent(tmp_path):
    archive = tmp_path / "part_0.tar.gz"
    archive.write_bytes(good_archive())
    out = tmp_path / "out"
    assert extract_archive(archive, out) == out
    assert (out / "clips" / "a.txt").read_bytes() == b"alpha"
    assert (out / "clips" / "sub" / "b.txt").read_bytes() == b"beta"
    assert os.readlink(out / "clips" / "a_link.txt") == "a.txt"
    info = read_marker(archive, out)
    assert info["sha256"] == sha256(archive.read_bytes()) and info["unsafe_count"] == 0 and info["members"] == 4
    assert sorted(p.name for p in out.iterdir()) == [".part_0.tar.gz.done", "clips"]  # no temp folder left
    # done: a second call does not extract again
    (out / "clips" / "a.txt").write_bytes(b"edited")
    extract_archive(archive, out)
    extract_archive(archive, out, checksum=info["sha256"])
    assert (out / "clips" / "a.txt").read_bytes() == b"edited"
    # an interrupted extraction (no marker, a stale temp folder) is redone and cleaned up
    (out / ".part_0.tar.gz.done").unlink()
    (out / ".part_0.tar.gz.0123456789ab.extracting").mkdir()
    extract_archive(archive, out)
    assert (out / "clips" / "a.txt").read_bytes() == b"alpha"
    assert sorted(p.name for p in out.iterdir()) == [".part_0.tar.gz.done", "clips"]


def test_extract_skips_unsafe_members(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(evil_archive(tmp_path))
    out = tmp_path / "a" / "b" / "out"
    abs_before = Path("/tmp/evil_abs.txt").read_bytes() if Path("/tmp/evil_abs.txt").exists() else None
    extract_archive(archive, out)
    assert (out / "ok.txt").read_bytes() == b"fine"
    assert sorted(p.name for p in out.iterdir()) == [".evil.tar.gz.done", "ok.txt", "q"]
    assert _outside_files(tmp_path, [out, archive]) == [tmp_path / "a", tmp_path / "a" / "b"]
    after = Path("/tmp/evil_abs.txt").read_bytes() if Path("/tmp/evil_abs.txt").exists() else None
    assert after == abs_before
    info = read_marker(archive, out)
    reasons = {s["name"]: s["reason"] for s in info["unsafe_members"]}
    assert set(reasons) == {
        "../evil.txt",
        "/tmp/evil_abs.txt",
        str(tmp_path / "evil_abs_tmp.txt"),
        "passwd",
        "up",
        "hard_passwd",
        "dev_null",
        "e",
        "e/evil2.txt",
    }
    assert info["unsafe_count"] == 9 and info["members"] == 2  # ok.txt and the harmless link q -> .


# -------------------------------------------------------------------------------------- download_all


def test_download_all_statuses(server, tmp_path):
    good, other = good_archive(), _tar_gz([_file("x.txt", b"x")])
    entries = [
        Entry(server.add("good.tar.gz", good), sha256(good)),
        Entry(server.add("corrupt.tar.gz", other), sha256(b"not it")),
        Entry(f"{server.base}/gone.tar.gz", sha256(b"gone")),
        Entry(server.add("evil.tar.gz", evil_archive(tmp_path)), None),
    ]
    dl, ex = tmp_path / "dl", tmp_path / "raw"
    df = download_all(entries, dl, extract_to=ex, workers=2, timeout=5, retries=1, progress=False)
    assert list(df["name"]) == ["good.tar.gz", "corrupt.tar.gz", "gone.tar.gz", "evil.tar.gz"]
    assert list(df["status"]) == ["ok", "checksum_mismatch", "failed", "ok"]
    assert list(df["extracted"]) == [True, False, False, True]
    assert list(df["unsafe_members"]) == [0, 0, 0, 9]
    assert df.loc[0, "bytes"] == len(good) and df.loc[0, "sha256"] == sha256(good) and df.loc[0, "reason"] == ""
    assert "404" in df.loc[2, "reason"] and "mismatch" in df.loc[1, "reason"]
    assert "unverified" in df.loc[3, "reason"] and not df.loc[3, "verified"]
    assert all("\n" not in r for r in df["reason"])
    assert sorted(p.name for p in dl.iterdir()) == ["evil.tar.gz", "good.tar.gz"]
    assert (ex / "clips" / "a.txt").read_bytes() == b"alpha"
    # rerun: nothing downloaded again for the finished ones, same statuses
    n_before = len(server.state.requests)
    df2 = download_all(entries, dl, extract_to=ex, workers=2, timeout=5, retries=1, progress=False)
    assert list(df2["status"]) == list(df["status"])
    assert [p for p, _ in server.state.requests[n_before:]].count("/good.tar.gz") == 0


def test_download_rule_through_snakemake(server, tmp_path):
    """`snakemake downloads` with a `downloads` config entry: archives fetched, extracted, reported."""
    import os
    import subprocess
    import sys

    import pandas as pd
    import yaml

    repo = Path(__file__).resolve().parents[2]
    data = good_archive()
    url = server.add("k400_part_0.tar.gz", data)
    (tmp_path / "urls.txt").write_text(f"# mirror list\n{url} {sha256(data)}\n")
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["downloads"] = {"k400": {"urls": "urls.txt", "extract_to": "raw/k400", "workers": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--cores", "1", "downloads"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = pd.read_csv(tmp_path / "results" / "downloads" / "k400.csv")
    assert report["status"].tolist() == ["ok"] and bool(report["extracted"].iloc[0])
    assert any((tmp_path / "raw" / "k400").rglob("*")), "nothing extracted"
