"""The paper's AST filter and the deterministic train/validation split."""

from __future__ import annotations

import pytest

from cluster.data import Sample, ast_filter, split_samples

TRIANGLE = {
    "name": "calculate_triangle_area",
    "description": "Area of a triangle.",
    "parameters": {
        "type": "dict",
        "properties": {
            "base": {"type": "integer", "description": "Base."},
            "height": {"type": "integer", "description": "Height."},
        },
        "required": ["base", "height"],
    },
}


def make(
    sample_id: str, ground_truth: list, category: str = "simple", text: str = "Area of a 10 by 5 triangle?"
):
    return Sample(
        id=sample_id,
        messages=[{"role": "user", "content": text}],
        tools=[TRIANGLE],
        ground_truth=ground_truth,
        category=category,
    )


def test_filter_keeps_satisfiable_golds_and_no_call_samples():
    good = make("good", [{"calculate_triangle_area": {"base": [10], "height": [5]}}])
    no_call = make("none", [], category="irrelevance")
    kept, report = ast_filter([good, no_call])
    assert kept == [good, no_call]
    assert (report.before, report.after, report.dropped) == (2, 2, [])
    assert str(report) == "AST filter: kept 2 of 2 samples"


def test_filter_drops_unsatisfiable_golds_and_says_why():
    samples = [
        make("ok", [{"calculate_triangle_area": {"base": [10], "height": [5]}}]),
        # a required argument the gold leaves out: no answer can pass the checker
        make("missing_required", [{"calculate_triangle_area": {"base": [10]}}]),
        # a value that renders but does not parse back as a literal call
        make("nan", [{"calculate_triangle_area": {"base": [float("nan")], "height": [5]}}]),
        # two calls where the category allows exactly one
        make(
            "count",
            [{"calculate_triangle_area": {"base": [1], "height": [2]}}] * 2,
            category="simple",
        ),
        # a call where none is possible: the function is not offered
        make("absent", [{"get_weather": {"city": ["Paris"]}}]),
    ]

    kept, report = ast_filter(samples)

    assert [s.id for s in kept] == ["ok"]
    assert (report.before, report.after) == (5, 1)
    assert [reason.split(":")[0] for reason in report.dropped] == [
        "missing_required",
        "nan",
        "count",
        "absent",
    ]
    assert "absent: gold calls 'get_weather', which is not among the tools" in report.dropped
    assert "missing_required: gold's own calls fail the checker" in report.dropped[0]
    assert str(report).startswith("AST filter: kept 1 of 5 samples (dropped 4:")


def test_filter_checks_in_the_hermes_format_too():
    good = make("good", [{"calculate_triangle_area": {"base": [10], "height": [5]}}])
    bad = make("bad", [{"calculate_triangle_area": {"base": [10]}}])
    kept, report = ast_filter([good, bad], fmt="hermes")
    assert [s.id for s in kept] == ["good"] and report.after == 1


def prompts(n: int, start: int = 0) -> list[Sample]:
    return [make(f"s{i}", [], text=f"request number {i}") for i in range(start, start + n)]


def ids(samples: list[Sample]) -> list[str]:
    return [s.id for s in samples]


def test_split_is_deterministic_and_near_the_fraction():
    samples = prompts(2000)
    train, val = split_samples(samples, 0.05, seed=0)
    again_train, again_val = split_samples(samples, 0.05, seed=0)
    assert ids(train) == ids(again_train) and ids(val) == ids(again_val)
    assert len(train) + len(val) == 2000
    assert 60 <= len(val) <= 140  # 5% of 2000 = 100 in expectation
    assert ids(train) + ids(val) != ids(samples)  # validation is spread over the file, not its tail
    assert set(ids(val)) != set(ids(split_samples(samples, 0.05, seed=1)[1]))


def test_split_is_stable_when_the_file_grows_or_is_reordered():
    small_train, small_val = split_samples(prompts(500), 0.1, seed=3)
    grown = prompts(300, start=500)[::-1] + prompts(500)[::-1]
    big_train, big_val = split_samples(grown, 0.1, seed=3)
    assert set(ids(small_val)) == set(ids(big_val)) & {f"s{i}" for i in range(500)}
    assert set(ids(small_train)) <= set(ids(big_train))


def test_identical_prompts_land_on_the_same_side():
    twins = [make(f"copy{i}", [], text="the very same request") for i in range(5)]
    train, val = split_samples(prompts(200) + twins, 0.5, seed=0)
    sides = {("val" if s in val else "train") for s in twins}
    assert len(sides) == 1


def test_split_rejects_a_fraction_outside_zero_one():
    with pytest.raises(ValueError, match="val_fraction=1.0"):
        split_samples(prompts(3), 1.0, seed=0)
