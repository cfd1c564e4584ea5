import os

from avbench.paths import atomic_path, resolve_under, safe_key


def test_resolve_under_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "v.mp4").write_bytes(b"x")
    os.symlink("/etc", root / "escape")
    assert resolve_under(root, "a/v.mp4") == (root / "a" / "v.mp4").resolve()
    for bad in ("../x.mp4", "a/../../x.mp4", "/etc/passwd", "escape/passwd", "C:/x.mp4", ""):
        assert resolve_under(root, bad) is None, bad


def test_safe_key():
    assert safe_key("-abc.def/ghi jk") == "-abc_def_ghi_jk"


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.csv"
    try:
        with atomic_path(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with atomic_path(final) as tmp:
        tmp.write_text("whole")
    assert final.read_text() == "whole"


def test_atomic_path_gives_the_usual_file_mode(tmp_path):
    from avbench.paths import FILE_MODE

    with atomic_path(tmp_path / "f.txt") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == FILE_MODE
