"""A labelled downstream set as evaluation sees it: shards, index, official folds, provenance.

The index (``results/shards/<set>/index.parquet``) lists every manifest row with its ``status``
and the official ``fold_k`` columns (``train``/``test``/""). :class:`Downstream` gives, for each
fold, the training and test keys among the samples that were really sharded, with the guards of
:mod:`avbench.evaluate.guards` applied (disjoint folds, shards matching the index, the overlap
policy towards the pretraining set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from avbench.evaluate.guards import apply_overlap_policy, check_disjoint, pretrain_overlap
from avbench.manifest import fold_columns, manifest_hash
from avbench.shards.loader import shard_urls


@dataclass
class Split:
    """The keys of one fold: ``train`` and ``test`` (sorted), and how many test items overlap the
    pretraining set (kept under ``flag``, removed under ``exclude``)."""

    fold: int
    train: list[str]
    test: list[str]
    overlap: int = 0


@dataclass
class Downstream:
    name: str
    shard_dir: Path
    index: pd.DataFrame
    overlap: dict[str, str] = field(default_factory=dict)
    overlap_policy: str = "flag"
    skipped: int = 0  # damaged samples left out (on_damage="skip"); not in clips_used
    unreadable: frozenset[str] = frozenset()  # tars left out whole (cannot be read past their damage)

    @classmethod
    def load(
        cls,
        *,
        name: str,
        shard_dir: str | Path,
        index_path: str | Path,
        pretrain_index: str | Path | None = None,
        overlap_policy: str = "flag",
        on_damage: str = "fail",
    ) -> "Downstream":
        """The set, its shards checked against the index (:func:`avbench.shards.verify.checked_index`:
        damaged samples raise, or under ``on_damage="skip"`` become ``status == "damaged"``)."""
        from avbench.shards.verify import checked_index

        if not shard_urls(shard_dir):
            raise FileNotFoundError(f"no shard-*.tar under {shard_dir}: nothing to evaluate {name} on")
        checked = checked_index(shard_dir, pd.read_parquet(index_path), on_damage)
        index = checked.index
        overlap = {}
        if pretrain_index:
            overlap = pretrain_overlap(pd.read_parquet(pretrain_index), index)
        return cls(
            name=name,
            shard_dir=Path(shard_dir),
            index=index,
            overlap=overlap,
            overlap_policy=overlap_policy,
            skipped=checked.skipped,
            unreadable=checked.unreadable,
        )

    @property
    def urls(self) -> list[str]:
        return [u for u in shard_urls(self.shard_dir) if str(Path(u).resolve()) not in self.unreadable]

    @property
    def manifest_hash(self) -> str:
        return manifest_hash(self.index)

    @property
    def ok(self) -> pd.DataFrame:
        return self.index[self.index["status"] == "ok"]

    @property
    def folds(self) -> list[int]:
        return [int(c.split("_")[1]) for c in fold_columns(self.ok)]

    def labels(self) -> dict[str, int]:
        ok = self.ok
        return dict(zip(ok["key"].astype(str), ok["label_idx"].astype(int)))

    def split(self, fold: int, keys: list[str] | None = None) -> Split:
        """Fold ``fold``'s train and test keys (restricted to ``keys``, the samples present in the
        shards, when given). Raises when the fold does not exist or train and test overlap."""
        col = f"fold_{fold}"
        ok = self.ok
        if col not in ok.columns:
            raise ValueError(f"{self.name} has no fold {fold} (folds: {self.folds})")
        side = dict(zip(ok["key"].astype(str), ok[col].fillna("").astype(str)))
        have = set(keys) if keys is not None else set(side)
        train = sorted(k for k, s in side.items() if s == "train" and k in have)
        test = sorted(k for k, s in side.items() if s == "test" and k in have)
        check_disjoint(train, test)
        if "path" in ok.columns:  # the same source file under two ids, one in train and one in test
            path = dict(zip(ok["key"].astype(str), ok["path"].fillna("").astype(str)))
            check_disjoint({path[k] for k in train if path[k]}, {path[k] for k in test if path[k]}, what="source files")
        test, n_overlap = apply_overlap_policy(test, self.overlap, self.overlap_policy)
        return Split(fold=int(fold), train=train, test=test, overlap=n_overlap)


FORMAT_FOLDS = {"ucf101": 3, "hmdb51": 3, "esc50": 5}


def official_folds(fmt: str, source: str | Path, folds: int | None = None) -> list[int]:
    """The official fold numbers of a labelled dataset before it is ingested (to plan one job per
    fold): ``folds`` when given, 3 for UCF101/HMDB51, 5 for ESC-50, for DCASE the
    ``evaluation_setup/fold<k>_train.txt`` files found under ``source``; else [1]."""
    if folds:
        return list(range(1, int(folds) + 1))
    if fmt in FORMAT_FOLDS:
        return list(range(1, FORMAT_FOLDS[fmt] + 1))
    setup = Path(source) / "evaluation_setup"
    found = (
        sorted(
            {int(p.name[4:].split("_")[0]) for p in setup.glob("fold*_train.txt") if p.name[4:].split("_")[0].isdigit()}
        )
        if setup.is_dir()
        else []
    )
    return found or [1]
