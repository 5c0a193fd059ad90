"""Reading the answer files a reader-study page downloads, one reader each.

:func:`read_answer_file` checks one file against the study's key and returns its
answers, or raises :class:`BadAnswers` with one line saying what is wrong (from
another study, no reader id, unknown or repeated image ids, values the page
never writes). :func:`collect_readers` reads every file, skipping the bad ones
(each with its line), merges the files of one reader (an early download and a
later one agree on what both hold) and marks each reader ``complete`` or
``partial``. Nothing here stops at a bad file: every other file is still read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

#: the columns of an answer file, as the page writes them
ANSWER_COLUMNS = ("study_id", "reader_id", "image_id", "answer", "confidence", "ms")
ANSWERS = ("real", "synthetic")
COMPLETE, PARTIAL, SKIPPED = "complete", "partial", "skipped"


class BadAnswers(ValueError):
    """An answer file that cannot be scored; the message is one line (without the file name)."""


class Reader(NamedTuple):
    """One reader's answers (``image_id, answer, confidence, ms``; confidence NaN when not given)."""

    reader_id: str
    files: tuple[str, ...]
    answers: pd.DataFrame
    status: str  # COMPLETE or PARTIAL
    note: str


class Skipped(NamedTuple):
    """A file (or a reader's files) left out of the scores, and why."""

    file: str
    reader_id: str
    message: str


def _some(values: Iterable, k: int = 3) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:k])
    return shown + (f" and {len(values) - k} more" if len(values) > k else "")


def _read_csv(path: str | os.PathLike) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BadAnswers(f"not a readable CSV file ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    missing = [c for c in ANSWER_COLUMNS if c not in df.columns]
    if missing:
        raise BadAnswers(
            f"lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, df.columns)) or 'none'}); "
            "answer files are the ones the page's Download answers button saves"
        )
    if df.empty:
        raise BadAnswers("holds no answers")
    return df.apply(lambda col: col.str.strip())


def _numbers(column: pd.Series, what: str, ok) -> pd.Series:
    values = pd.to_numeric(column.replace("", np.nan), errors="coerce")
    bad = column[(column != "") & ~(values.notna() & values.map(lambda v: bool(ok(v))))]
    if len(bad):
        raise BadAnswers(f"{what} {_some(bad.unique())} in {len(bad)} row(s): {ok.__doc__}")
    return values.astype(float)


def _confidence_ok(v):
    """a confidence is empty or a whole number from 1 to 5"""
    return float(v).is_integer() and 1 <= v <= 5


def _ms_ok(v):
    """milliseconds are a number >= 0"""
    return np.isfinite(v) and v >= 0


def read_answer_file(path: str | os.PathLike, study_id: str, image_ids: Iterable[str]) -> tuple[str, pd.DataFrame]:
    """``(reader id, answers)`` of one file of study ``study_id``; :class:`BadAnswers` if it cannot be scored."""
    df = _read_csv(path)
    studies = sorted(set(df["study_id"]))
    if studies != [study_id]:
        raise BadAnswers(f"answers of another study (study id {_some(studies)}; this study is {study_id!r})")
    empty = int((df["reader_id"] == "").sum())
    if empty:
        raise BadAnswers(f"{empty} of {len(df)} answer(s) have no reader id")
    readers = sorted(set(df["reader_id"]))
    if len(readers) > 1:
        raise BadAnswers(f"holds the answers of {len(readers)} readers ({_some(readers)}); one file per reader")
    known = set(image_ids)
    unknown = [i for i in df["image_id"].unique() if i not in known]
    if unknown:
        raise BadAnswers(f"{len(unknown)} image id(s) not in this study: {_some(unknown)}")
    counts = df["image_id"].value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        raise BadAnswers(f"image id(s) answered more than once: {_some(repeated.index)}")
    wrong = df.loc[~df["answer"].isin(ANSWERS), "answer"]
    if len(wrong):
        raise BadAnswers(f"answer {_some(wrong.unique())} in {len(wrong)} row(s) is not real or synthetic")
    answers = pd.DataFrame(
        {
            "image_id": df["image_id"],
            "answer": df["answer"],
            "confidence": _numbers(df["confidence"], "confidence", _confidence_ok),
            "ms": _numbers(df["ms"], "ms", _ms_ok),
        }
    ).reset_index(drop=True)
    return readers[0], answers


def _merge(reader_id: str, parts: list[tuple[str, pd.DataFrame]]) -> tuple[pd.DataFrame | None, str]:
    """One reader's answers from several files: the union when they agree wherever they overlap."""
    merged = parts[0][1]
    for _, df in parts[1:]:
        both = merged.merge(df, on="image_id", suffixes=("", "_other"))
        same = (both["answer"] == both["answer_other"]) & (
            both["confidence"].fillna(0) == both["confidence_other"].fillna(0)
        )
        if not same.all():
            first = both.loc[~same].iloc[0]
            files = " and ".join(Path(p).name for p, _ in parts)
            return None, (
                f"reader {reader_id!r}: {files} disagree (image {first['image_id']!r} answered "
                f"{first['answer']!r} and {first['answer_other']!r}); none of them scored"
            )
        merged = pd.concat([merged, df[~df["image_id"].isin(merged["image_id"])]], ignore_index=True)
    note = f"merged from {len(parts)} files" if len(parts) > 1 else ""
    return merged, note


def collect_readers(paths: Iterable[str | os.PathLike], key: pd.DataFrame) -> tuple[list[Reader], list[Skipped]]:
    """Every reader of the answer files ``paths`` (sorted by reader id) and what was skipped, against ``key``."""
    study_ids = sorted(set(key["study_id"]))
    if len(study_ids) != 1:
        raise ValueError(f"the key names {len(study_ids)} study ids ({_some(study_ids)}); expected one")
    image_ids = list(key["image_id"])
    by_reader: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    skipped: list[Skipped] = []
    for path in sorted(map(str, paths)):
        try:
            reader_id, answers = read_answer_file(path, study_ids[0], image_ids)
        except BadAnswers as exc:
            skipped.append(Skipped(path, "", str(exc)))
            continue
        by_reader.setdefault(reader_id, []).append((path, answers))
    readers = []
    for reader_id in sorted(by_reader):
        parts = by_reader[reader_id]
        answers, note = _merge(reader_id, parts)
        if answers is None:
            skipped += [Skipped(path, reader_id, note) for path, _ in parts]
            continue
        status = COMPLETE if len(answers) == len(image_ids) else PARTIAL
        if status == PARTIAL:
            note = "; ".join(filter(None, [note, f"answered {len(answers)} of {len(image_ids)} images"]))
        readers.append(Reader(reader_id, tuple(p for p, _ in parts), answers, status, note))
    return readers, skipped
