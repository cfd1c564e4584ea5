"""Check that a dataset's shards hold every sample its index lists, intact.

The index written by :func:`avbench.shards.write.write_shards` records ``shard_sha256`` (the tar)
and ``sample_sha256`` (one sample's members, :func:`avbench.shards.write.sample_checksum`) for
every ``ok`` row. :func:`verify_shards` hashes each listed tar once (the fast path: it matches);
for a tar that does not match it reads the tar member by member and names each sample that is
missing or damaged. :func:`checked_index` applies the policy:

- ``on_damage="fail"`` (the default everywhere): raise :class:`DamagedShards`, naming the shard
  and key of the first damaged samples;
- ``on_damage="skip"``: mark those rows ``status = "damaged"`` (with the reason) so that they are
  neither read nor counted in ``clips_used``, and return how many were skipped.

An index without checksum columns (written before they existed) is not checked.
"""

from __future__ import annotations

import tarfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from avbench.shards.write import file_sha256, sample_checksum

ON_DAMAGE = ("fail", "skip")


@dataclass(frozen=True)
class Damage:
    shard: str
    key: str
    why: str

    def __str__(self) -> str:
        return f"{self.shard} key {self.key}: {self.why}"


class DamagedShards(ValueError):
    """Samples the index lists are missing or damaged in the shards."""

    def __init__(self, damage: list[Damage], where: str | Path) -> None:
        self.damage = damage
        shown = "; ".join(str(d) for d in damage[:3])
        more = f" (and {len(damage) - 3} more)" if len(damage) > 3 else ""
        super().__init__(
            f"damaged shards under {where}: {shown}{more}; reshard the dataset, or pass "
            "--on-damage skip to leave these samples out (they are then not counted in clips_used)"
        )


def _candidates(shard_dir: Path, shard: str, urls: list[str]) -> list[Path]:
    """The tars an index's ``shard`` value may name: ``shard_dir/shard``, else every tar under
    ``shard_dir`` whose path ends with it (a group index read from the dataset folder)."""
    direct = shard_dir / shard
    if shard and direct.is_file():
        return [direct]
    return [Path(u) for u in urls if shard and u.endswith("/" + shard)]


def _read_samples(path: Path) -> tuple[dict[str, dict[str, bytes]], str]:
    """Members of a tar grouped by key ({key: {ext: bytes}}) and the read error, if any ("")."""
    out: dict[str, dict[str, bytes]] = defaultdict(dict)
    try:
        with tarfile.open(path, "r:") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                base = m.name.rsplit("/", 1)[-1]
                key, _, ext = base.partition(".")
                fh = tar.extractfile(m)
                out[key][ext] = fh.read() if fh is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        return out, f"unreadable tar ({type(exc).__name__}: {str(exc)[:120]})"
    return out, ""


def verify_shards(shard_dir: str | Path, index: pd.DataFrame) -> list[Damage]:
    """Every listed ``ok`` sample that is missing or damaged in the shards under ``shard_dir``."""
    return _verify(Path(shard_dir), index)[0]


def _verify(shard_dir: Path, index: pd.DataFrame) -> tuple[list[Damage], set[str]]:
    """(damage, resolved paths of the tars that cannot be read past their damage)."""
    from avbench.shards.loader import shard_urls

    if "shard_sha256" not in index.columns or "sample_sha256" not in index.columns:
        return [], set()
    urls = shard_urls(shard_dir)
    ok = index[index["status"] == "ok"]
    damage: list[Damage] = []
    unreadable: set[str] = set()
    for shard, rows in ok.groupby(ok["shard"].fillna("").astype(str), sort=True):
        expected = dict(zip(rows["key"].astype(str), rows["sample_sha256"].fillna("").astype(str)))
        want = {str(s) for s in rows["shard_sha256"].fillna("") if s}
        paths = _candidates(shard_dir, shard, urls)
        if not paths:
            damage += [Damage(shard, k, "shard file missing") for k in sorted(expected)]
            continue
        if want and any(file_sha256(p) in want for p in paths):
            continue  # the whole tar is as written
        path = paths[0]
        samples, error = _read_samples(path)
        if error:
            unreadable.add(str(path.resolve()))
        for key, digest in expected.items():
            got = samples.get(key)
            if error:  # the reader cannot get past the damage: the whole tar is left out
                damage.append(Damage(shard, key, error))
            elif got is None:
                damage.append(Damage(shard, key, "sample missing from the shard"))
            elif digest and sample_checksum(got) != digest:
                damage.append(Damage(shard, key, "sample damaged (checksum differs)"))
    return damage, unreadable


@dataclass
class Checked:
    """An index checked against its shards: ``index`` (damaged rows have ``status == "damaged"``
    under ``skip``), ``skipped`` (how many samples that is) and ``unreadable`` (paths of tars the
    readers must leave out: they cannot be read past their damage)."""

    index: pd.DataFrame
    skipped: int = 0
    unreadable: frozenset[str] = frozenset()

    def urls(self, urls: list[str]) -> list[str]:
        return [u for u in urls if str(Path(u).resolve()) not in self.unreadable]


def checked_index(shard_dir: str | Path, index: pd.DataFrame, on_damage: str = "fail") -> Checked:
    """``index`` verified against the shards under ``shard_dir`` under the policy ``on_damage``
    (see the module doc)."""
    if on_damage not in ON_DAMAGE:
        raise ValueError(f"on_damage must be one of {ON_DAMAGE}, not {on_damage!r}")
    damage, unreadable = _verify(Path(shard_dir), index)
    if not damage:
        return Checked(index)
    if on_damage == "fail":
        raise DamagedShards(damage, shard_dir)
    index = index.copy()
    why = {(d.shard, d.key): str(d) for d in damage}
    for i, (shard, key) in zip(index.index, zip(index["shard"].fillna("").astype(str), index["key"].astype(str))):
        if (shard, key) in why and index.at[i, "status"] == "ok":
            index.at[i, "status"] = "damaged"
            index.at[i, "reason"] = why[(shard, key)]
    print(
        f"skipped {len(damage)} damaged samples under {shard_dir}: " + "; ".join(str(d) for d in damage[:3]), flush=True
    )
    return Checked(index, len(damage), frozenset(unreadable))
