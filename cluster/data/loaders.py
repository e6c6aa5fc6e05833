"""Loaders: local JSON, JSONL and Parquet files, ``datasets`` folders saved with ``save_to_disk`` and
hub datasets (``hf://owner/name[:split]``), in this project's, BFCL's, xLAM's and OpenAI's formats.

Every record is validated (``cluster.data.validate``). By default the first bad record stops the
load with ``file:line: what is wrong``; with ``skip_invalid`` bad records are skipped, and the
count and every reason are reported at the end (printed, and kept in ``LoadResult.skipped``).
"""

from __future__ import annotations

import functools
import gzip
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cluster.data.formats import from_bfcl, from_chat, from_egpo, from_xlam, require_object
from cluster.data.sample import Sample
from cluster.data.validate import DataError, MalformedRecordError, build_sample
from common.console import say

DataFormat = Literal["egpo", "bfcl", "xlam", "chat"]
FORMATS: tuple[str, ...] = ("egpo", "bfcl", "xlam", "chat")


@dataclass
class LoadResult:
    """The samples of one file, and the records skipped (``file:line: reason``) under ``skip_invalid``."""

    samples: list[Sample]
    skipped: list[str] = field(default_factory=list)
    records: int = 0

    def summary(self, path: str | Path) -> str:
        head = f"loaded {len(self.samples)} samples from {self.records} records of {path}"
        if not self.skipped:
            return head
        lines = [f"{head}; skipped {len(self.skipped)} invalid record(s):"]
        lines += [f"  {reason}" for reason in self.skipped]
        return "\n".join(lines)


def load_samples(
    path: str | Path,
    fmt: DataFormat = "egpo",
    *,
    answers_path: str | Path | None = None,
    skip_invalid: bool = False,
    limit: int | None = None,
) -> LoadResult:
    """Load and validate the samples of one file (``.json``, ``.jsonl`` or ``.parquet``).

    ``fmt``: ``egpo`` (one ``Sample`` per line; a missing category is inferred), ``bfcl`` (question
    file; gold from ``answers_path``, by default ``possible_answer/<same name>`` beside it as in the
    bfcl-eval package; irrelevance categories have none),
    ``xlam`` (``query``/``tools``/``answers`` as JSON strings) or ``chat`` (OpenAI-style
    ``messages`` and ``tools``; one sample per assistant turn, the history as the prompt).
    ``path`` may also name a ``datasets`` folder (``save_to_disk``; ``DIR:split`` picks a split of a
    saved DatasetDict) or a hub dataset ``hf://owner/name[:split]`` (split default ``train``); their
    rows are records like a file's lines, and errors name ``source row N``.
    Raises a ``DataError`` (a ``ValueError``) on the first bad record unless ``skip_invalid``.
    ``limit`` stops reading once that many samples are loaded (None: read everything).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}: expected one of {FORMATS}")
    source = str(path)
    path = Path(path)
    if fmt == "bfcl":
        if answers_path is None and (path.parent / "possible_answer" / path.name).is_file():
            answers_path = path.parent / "possible_answer" / path.name
        answers, answer_problems = _read_bfcl_answers(answers_path, skip_invalid)
        convert: Callable[[Any, str], list[dict[str, Any]]] = functools.partial(from_bfcl, answers=answers)
    else:
        convert = {"egpo": from_egpo, "xlam": from_xlam, "chat": from_chat}[fmt]
    result = LoadResult(samples=[], skipped=list(answer_problems) if fmt == "bfcl" else [])
    first_seen: dict[str, str] = {}
    records = read_dataset_rows(source) if is_dataset_source(source) else read_records(path)
    for where, record in records:
        result.records += 1
        try:
            if isinstance(record, DataError):
                raise record
            samples = [build_sample(sample, where) for sample in convert(record, where)]
            for sample in samples:
                if sample.id in first_seen:
                    raise MalformedRecordError(
                        where, f"id '{sample.id}' was already used at {first_seen[sample.id]}"
                    )
        except DataError as exc:
            if not skip_invalid:
                raise
            result.skipped.append(str(exc))
            continue
        for sample in samples:
            first_seen[sample.id] = where
        result.samples.extend(samples)
        if limit is not None and len(result.samples) >= limit:
            del result.samples[limit:]
            break
    say(result.summary(source), file=sys.stderr)
    return result


HUB_PREFIX = "hf://"
_SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


class DataSourceError(ValueError):
    """A dataset folder or hub dataset that cannot be opened; the message says why and what to do."""


def _split_suffix(source: str) -> tuple[str, str | None]:
    """``name:split`` -> (name, split); a bare name -> (name, None)."""
    head, sep, tail = source.rpartition(":")
    return (head, tail) if sep and tail and "/" not in tail else (source, None)


def _saved_folder(source: str) -> tuple[Path, str | None]:
    """``DIR`` -> (DIR, None); ``DIR:split`` -> (DIR, split) unless ``DIR:split`` is itself a folder."""
    if Path(source).is_dir():
        return Path(source), None
    folder, split = _split_suffix(source)
    return Path(folder), split


def is_dataset_source(source: str) -> bool:
    """A hub dataset (``hf://...``) or a folder saved by ``datasets`` (optionally ``:split``)."""
    if source.startswith(HUB_PREFIX):
        return True
    folder = _saved_folder(source)[0]
    return folder.is_dir() and any((folder / marker).is_file() for marker in _SAVED_MARKERS)


def read_dataset_rows(source: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(source row N, record)`` for every row of a saved or hub dataset."""
    try:
        import datasets
    except ImportError as exc:
        raise DataSourceError(f"reading {source} needs the 'datasets' package ({exc})") from None
    if source.startswith(HUB_PREFIX):
        name, split = _split_suffix(source[len(HUB_PREFIX) :])
        try:
            table = datasets.load_dataset(name, split=split or "train")
        except Exception as exc:  # noqa: BLE001 - every hub failure ends in the same advice
            from huggingface_hub import constants

            offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
            raise DataSourceError(
                f"could not load {source} from the Hugging Face hub{offline} nor from the cache "
                f"{datasets.config.HF_DATASETS_CACHE} ({type(exc).__name__}); where there is network, save "
                f"it with datasets.load_dataset({name!r}, split={split or 'train'!r}).save_to_disk(DIR) "
                "and point the path at DIR"
            ) from None
    else:
        folder, split = _saved_folder(source)
        table = datasets.load_from_disk(str(folder))
        if isinstance(table, datasets.DatasetDict):
            splits = list(table)
            if split is None and len(splits) == 1:
                split = splits[0]
            if split not in table:
                raise DataSourceError(
                    f"{folder} is a saved DatasetDict with splits {splits}; name one as {folder}:SPLIT"
                )
            table = table[split]
        elif split is not None:
            raise DataSourceError(f"{folder} holds a single Dataset, not splits; drop ':{split}'")
    for row, record in enumerate(table, start=1):
        yield f"{source} row {row}", _drop_nulls(record)


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(file:line, record)``; a line that is not JSON yields a ``MalformedRecordError`` instead.

    ``.parquet``: one record per row. ``.json``: a JSON array (or one object) when the whole file
    parses, otherwise JSON lines (BFCL's ``.json`` files are JSON lines). ``.jsonl``: JSON lines.
    ``.json.gz`` and ``.jsonl.gz``: the same, gzip-compressed.
    """
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for row, record in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield f"{path}:{row}", _drop_nulls(record)
        return
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")
    if suffix == ".json":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            yield from ((f"{path}:{i}", rec) for i, rec in enumerate(whole, start=1))
            return
        if isinstance(whole, dict):
            yield f"{path}:1", whole
            return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"{path}:{lineno}", MalformedRecordError(f"{path}:{lineno}", f"malformed JSON line: {exc}")


def _drop_nulls(value: Any) -> Any:
    """Parquet fills absent struct fields with None; drop them so records look like their JSON form."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _read_bfcl_answers(
    answers_path: str | Path | None, skip_invalid: bool
) -> tuple[dict[str, tuple[str, Any]], list[str]]:
    """Possible answers by id (with their ``file:line``), and the bad answer lines skipped."""
    answers: dict[str, tuple[str, Any]] = {}
    problems: list[str] = []
    if answers_path is None:
        return answers, problems
    for where, record in read_records(Path(answers_path)):
        try:
            if isinstance(record, DataError):
                raise record
            record = require_object(record, where)
            if not isinstance(record.get("id"), str) or "ground_truth" not in record:
                raise MalformedRecordError(where, "a possible answer needs 'id' and 'ground_truth'")
        except DataError as exc:
            if not skip_invalid:
                raise
            problems.append(str(exc))  # and the question that needs it is reported too
            continue
        answers[record["id"]] = (where, record["ground_truth"])
    return answers, problems
