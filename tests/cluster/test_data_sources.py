"""Datasets by name: folders saved with ``datasets``' save_to_disk and hub datasets (hf://owner/name),
read through the same format loaders and validation as files, errors naming the row."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cluster.config import load_config
from cluster.data import load_samples
from cluster.data.feed import load_splits
from cluster.data.loaders import DataSourceError
from cluster.data.validate import DataError
from tests.support.records import (
    BFCL_IRRELEVANCE,
    BFCL_LIVE,
    BFCL_LIVE_ANSWER,
    BFCL_SIMPLE,
    BFCL_SIMPLE_ANSWER,
    XLAM_RECORD,
)
from tests.support.runs import REPO_ROOT

datasets = pytest.importorskip("datasets")


def test_xlam_rows_saved_to_disk_load_like_the_file(tmp_path):
    second = {**XLAM_RECORD, "id": 1, "answers": "[]"}
    datasets.Dataset.from_list([XLAM_RECORD, second]).save_to_disk(str(tmp_path / "xlam"))
    samples = load_samples(tmp_path / "xlam", "xlam").samples
    assert len(samples) == 2
    assert samples[0].messages == [{"role": "user", "content": XLAM_RECORD["query"]}]
    assert samples[0].ground_truth == [
        {"live_giveaways_by_type": {"type": ["beta"]}},
        {"live_giveaways_by_type": {"type": ["game"]}},
    ]
    assert samples[1].ground_truth == []


def test_bfcl_rows_with_their_answers_saved_to_disk(tmp_path):
    """A dataset column must hold one type, so BFCL's nested fields are stored as JSON text."""
    answers = {a["id"]: a["ground_truth"] for a in (BFCL_SIMPLE_ANSWER, BFCL_LIVE_ANSWER)}
    rows = [
        {
            "id": q["id"],
            "question": json.dumps(q["question"]),
            "function": json.dumps(q["function"]),
            "ground_truth": json.dumps(answers.get(q["id"], [])),
        }
        for q in (BFCL_SIMPLE, BFCL_LIVE, BFCL_IRRELEVANCE)
    ]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "bfcl"))
    simple, live, irrelevance = load_samples(str(tmp_path / "bfcl"), "bfcl").samples
    assert simple.category == "simple_python" and simple.ground_truth == BFCL_SIMPLE_ANSWER["ground_truth"]
    assert simple.tools == BFCL_SIMPLE["function"]
    assert live.ground_truth == BFCL_LIVE_ANSWER["ground_truth"]
    assert irrelevance.ground_truth == []


def test_a_bad_row_is_named_by_its_source_and_row(tmp_path):
    bad = {**XLAM_RECORD, "id": 1, "answers": json.dumps([{"name": "nope", "arguments": {}}])}
    datasets.Dataset.from_list([XLAM_RECORD, bad]).save_to_disk(str(tmp_path / "xlam"))
    with pytest.raises(DataError, match=rf"{tmp_path / 'xlam'} row 2: .*nope"):
        load_samples(tmp_path / "xlam", "xlam")


def test_a_saved_dataset_dict_needs_a_split_when_it_has_several(tmp_path):
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([XLAM_RECORD]),
            "test": datasets.Dataset.from_list([XLAM_RECORD]),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    assert len(load_samples(f"{tmp_path / 'dd'}:test", "xlam").samples) == 1
    with pytest.raises(DataSourceError, match=r"splits \['train', 'test'\]; name one as .*dd:SPLIT"):
        load_samples(tmp_path / "dd", "xlam")


def test_a_hub_dataset_without_network_names_the_field_and_the_way_out(tmp_path):
    code = (
        "from cluster.config import load_config\nfrom cluster.data.feed import load_splits\n"
        "cfg = load_config('tiny', ['data.train_path=hf://nobody-here/no-such-data:train'])\n"
        "try:\n    load_splits(cfg)\nexcept ValueError as e:\n    print('ERR', e)\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("ERR"))
    assert line.startswith("ERR data.train_path='hf://nobody-here/no-such-data:train': could not load")
    assert "HF_HUB_OFFLINE is set" in line and "save_to_disk(DIR)" in line


def test_a_missing_data_file_names_its_config_field():
    cfg = load_config("tiny", ["data.val_path=data/nothing-here.jsonl"])
    with pytest.raises(
        ValueError, match=r"^data.val_path='data/nothing-here.jsonl': data file .* does not exist"
    ):
        load_splits(cfg)
