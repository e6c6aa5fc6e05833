"""The synthetic generator and the bundled files it produced."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from cluster.data import ast_filter, load_samples
from cluster.synthetic.families import FAMILIES, FUNCTIONS, slots
from cluster.synthetic.generate import (
    CATEGORY_WEIGHTS,
    DEFAULT_SIZES,
    FILLERS,
    MAX_REFERENCE_CHARS,
    OPENERS,
    UNSEEN_VALUES,
    TaskWriter,
    category_counts,
    generate_split,
    held_out_tools,
    main,
    without_a_required_slot,
)
from cluster.synthetic.pools import is_held_out
from reward import score
from tests.support.runs import REPO_ROOT

DATA = REPO_ROOT / "data"


@pytest.fixture(scope="module")
def shipped():
    files = {"train": "train.jsonl.gz", "val": "val.jsonl"}
    return {split: load_samples(DATA / name).samples for split, name in files.items()}


def test_the_fixed_seed_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    main(["--seed", "0", "--out", str(tmp_path)])
    for name in ("train.jsonl.gz", "val.jsonl"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), (
            f"{name} differs from the generator"
        )


def test_another_seed_gives_other_tasks():
    assert [s.messages for s in generate_split("val", 20, seed=1)] != [
        s.messages for s in generate_split("val", 20, seed=0)
    ]


def test_families_are_many_small_and_their_templates_consistent():
    assert len(FAMILIES) >= 20
    for family in FAMILIES:
        assert 1 <= len(family.functions) <= 3, family.name
    for function in FUNCTIONS:
        names = {p.name for p in function.params}
        required = {p.name for p in function.params if p.required}
        assert 1 <= len(function.params) <= 4, function.name
        assert len(function.templates) >= 5 and len(function.missing) >= 2, function.name
        for template in function.templates:
            assert set(slots(template)) <= names and required <= set(slots(template)), (
                function.name,
                template,
            )
        for template in function.missing:
            assert set(slots(template)) <= names and required - set(slots(template)), (
                function.name,
                template,
            )
    assert {p.type for f in FUNCTIONS for p in f.params} == {"string", "integer", "float", "boolean"}


def test_shipped_files_have_every_category_and_the_intended_sizes(shipped):
    unseen = [s for s in shipped["val"] if s.slice == UNSEEN_VALUES]
    assert len(shipped["train"]) == DEFAULT_SIZES["train"]
    assert len(shipped["val"]) == DEFAULT_SIZES["val"] + DEFAULT_SIZES["unseen"] >= 300
    assert len(unseen) == DEFAULT_SIZES["unseen"] and not any(s.slice for s in shipped["train"])
    for samples in shipped.values():
        counts = category_counts(samples)
        assert set(counts) == set(CATEGORY_WEIGHTS) and min(counts.values()) > 0
        assert all(s.category != "simple" or len(s.tools) == 1 for s in samples)
        assert all(s.category != "multiple" or 2 <= len(s.tools) <= 3 for s in samples)
        assert all(
            bool(s.ground_truth) == (s.category not in ("irrelevance", "missing_param")) for s in samples
        )
        assert (
            max(len(s.reference) for s in samples) <= MAX_REFERENCE_CHARS
        )  # fits the tiny preset's 96 tokens


def test_every_shipped_gold_passes_the_filter_and_every_reference_scores_one(shipped):
    for samples in shipped.values():
        kept, report = ast_filter(samples)
        assert report.after == report.before == len(samples)
        bad = [s.id for s in samples if score(s.reference, s.ground_truth, s.tools, s.category) != 1.0]
        assert bad == []


def _requests(samples):
    return {s.messages[-1]["content"] for s in samples}


def eval_literal(text):
    import ast

    return ast.literal_eval(text)


def _gold_values(samples):
    values = defaultdict(set)
    for sample in samples:
        for call in sample.ground_truth:
            for name, params in call.items():
                for param, acceptable in params.items():
                    values[(name, param)].update(repr(v) for v in acceptable if v != "")
    return values


def test_validation_holds_out_phrasings_and_tool_sets_and_its_slice_holds_out_values(shipped):
    train, val = shipped["train"], shipped["val"]
    assert not _requests(val) & _requests(train)
    # a set of two or more tools is either training's or validation's, never both
    train_sets = {frozenset(t["name"] for t in s.tools) for s in train if len(s.tools) > 1}
    val_sets = {frozenset(t["name"] for t in s.tools) for s in val if len(s.tools) > 1}
    assert val_sets and not train_sets & val_sets
    assert all(held_out_tools(list(names)) for names in val_sets)
    enum_or_bool = {
        (f.name, p.name) for f in FUNCTIONS for p in f.params if p.enum or p.type == "boolean" or p.default
    }
    free = lambda key: key not in enum_or_bool and key[1] != "stars"  # noqa: E731 - shared pools
    train_values = _gold_values(train)
    # the main part of validation draws values from training's side of the pools (they may recur) ...
    main_values = _gold_values([s for s in val if not s.slice])
    for key, values in main_values.items():
        if free(key):
            assert not any(is_held_out(eval_literal(v)) for v in values), key
    assert sum(len(values & train_values[key]) for key, values in main_values.items() if free(key)) > 0
    # ... and the unseen-values slice only values that never occur in training
    for key, values in _gold_values([s for s in val if s.slice == UNSEEN_VALUES]).items():
        if free(key):
            assert not values & train_values[key], (
                f"{key}: unseen-values slice has {values & train_values[key]} from training"
            )
    # the held-out opener only in validation, where half the requests open plainly, as in training
    held = OPENERS[-1]
    assert not any(s.messages[-1]["content"].startswith(held) for s in shipped["train"])
    opened = sum(s.messages[-1]["content"].startswith(held) for s in val) / len(val)
    assert 0.35 < opened < 0.65
    # and the argument values are written verbatim in the request, so a small model can copy them
    for sample in train[:300]:
        for call in sample.ground_truth:
            for name, params in call.items():
                for param, acceptable in params.items():
                    value = acceptable[0]
                    if value != "" and not isinstance(value, bool):
                        assert str(value) in sample.messages[-1]["content"], (sample.id, name, param)


def test_fillers_slip_between_training_words_only():
    template = "Forecast for {city} for the next {days} days."
    train = TaskWriter(random.Random(0), "train")
    noisy = [train.filled_with_fillers(template) for _ in range(200)]
    assert 0.35 < sum(t != template for t in noisy) / len(noisy) < 0.65  # half the requests keep none
    for text in noisy:  # the template's own words stay, whole and in order, with its slots
        words = iter(text.split(" "))
        assert all(word in words for word in template.split(" ")), text
        assert slots(text) == slots(template)
    assert any(f" {filler} " in text for text in noisy for filler in FILLERS)
    assert TaskWriter(random.Random(0), "val").filled_with_fillers(template) == template


def test_a_dropped_slot_turns_a_call_request_into_a_missing_parameter_request(tmp_path, capsys):
    by_name = {f.name: f for f in FUNCTIONS}
    rng = random.Random(0)
    drop = lambda name, template: without_a_required_slot(rng, by_name[name], template)  # noqa: E731
    assert drop("get_weather", "What's the weather in {city}?") == "What's the weather?"
    assert drop("turn_on_lights", "Turn on the lights in the {room}.") == "Turn on the lights."
    assert drop("set_timer", "Start a {minutes} minute timer for {label}.") == "Start a timer for {label}."
    assert drop("translate_text", 'How do you say "{text}" in {target_language}?') in {
        'How do you say "{text}"?',
        "How do you say in {target_language}?",
    }
    assert drop("get_weather", "Tell me the current weather in {unit}.") is None  # no required slot

    main(["--out", str(tmp_path), "--train", "400", "--val", "60", "--unseen", "0",
          "--category-weights", "missing_param=1,irrelevance=0", "--dropped-slot-share", "1"])  # fmt: skip
    train = load_samples(tmp_path / "train.jsonl.gz").samples
    missing = [s for s in train if s.category == "missing_param"]
    assert len(missing) > 200
    requests = {s.messages[-1]["content"] for s in missing}
    writer = TaskWriter(random.Random(0), "train", dropped_slot_share=1.0)
    weather = [writer.missing_task(by_name["get_weather"])["messages"][-1]["content"] for _ in range(60)]
    assert any(r.endswith("weather?") for r in weather)  # "What's the weather in {city}?", dropped
    only_in_missing_templates = ("like right now", "Play a song", "this word", "Email my boss")
    assert not any(phrase in r for r in requests for phrase in only_in_missing_templates)
    for sample in missing:  # no call is the answer, and the reference says which value is absent
        assert sample.ground_truth == [] and "is not given" in sample.reference
        assert score(sample.reference, [], sample.tools, "missing_param") == 1.0
    plain = tmp_path / "plain"
    main(["--out", str(plain), "--train", "10", "--val", "60", "--unseen", "0"])
    assert (plain / "val.jsonl").read_bytes() == (tmp_path / "val.jsonl").read_bytes()  # validation keeps 0
    with pytest.raises(SystemExit):
        main(["--out", str(plain), "--dropped-slot-share", "2"])
    assert "expected a share between 0 and 1" in capsys.readouterr().err


def test_generated_tools_are_fresh_readable_and_their_references_score_one():
    from cluster.synthetic.generated import NAMESPACES, PATTERNS

    train = generate_split("train", 300, seed=0, functions=FUNCTIONS, generated_share=1.0)
    val = generate_split("val", 100, seed=0, functions=FUNCTIONS, generated_share=1.0)
    for samples in (train, val):
        kept, report = ast_filter(samples)
        assert report.after == report.before == len(samples)
        assert [s.id for s in samples if score(s.reference, s.ground_truth, s.tools, s.category) != 1.0] == []
        assert {s.category for s in samples} == set(CATEGORY_WEIGHTS)
    hand_written = {f.name for f in FUNCTIONS}  # no generated name is a hand-written one
    names = {t["name"] for s in train for t in s.tools}
    assert not names & hand_written and len(names) > 300  # made up afresh, hardly ever twice
    assert any("." in n for n in names) and any(not n.count(".") for n in names)  # dotted names too
    kinds = {p["type"] for s in train for t in s.tools for p in t["parameters"]["properties"].values()}
    assert {"array", "float", "integer", "string"} <= kinds
    lists = [
        v
        for s in train
        for c in s.ground_truth
        for args in c.values()
        for v in args.values()
        if isinstance(v[0], list)
    ]
    assert lists  # a list stated as "3, 5 and 7" is called as [3, 5, 7]
    # BFCL's other shapes: enums, booleans, optional parameters a request may leave unstated
    props = [p for s in train for t in s.tools for p in t["parameters"]["properties"].values()]
    assert any("enum" in p for p in props) and any(p["type"] == "boolean" for p in props)
    unstated = [
        (s, name)
        for s in train
        for c in s.ground_truth
        for args in c.values()
        for name, acceptable in args.items()
        if acceptable[0] == ""
    ]
    assert unstated and all(f"{name}=" not in s.reference for s, name in unstated)
    # validation holds out the last request pattern and the last namespace
    val_pattern = PATTERNS[-1].split("{")[0].strip()
    assert any(val_pattern in s.messages[-1]["content"] for s in val if s.ground_truth)
    assert not any(val_pattern + " " in s.messages[-1]["content"] for s in train)
    assert not any(t["name"].startswith(NAMESPACES[-1] + ".") for s in train for t in s.tools)
    # share 0 leaves the shipped generation untouched (the byte-for-byte test covers the files)
    assert [s.id for s in generate_split("val", 5, seed=0)] == [
        s.id for s in generate_split("val", 5, 0, generated_share=0)
    ]


def test_category_weights_change_the_training_mix_only(tmp_path, capsys):
    main(["--out", str(tmp_path), "--train", "300", "--val", "60", "--unseen", "0",
          "--category-weights", "missing_param=0,irrelevance=0"])  # fmt: skip
    train = load_samples(tmp_path / "train.jsonl.gz").samples
    val = load_samples(tmp_path / "val.jsonl").samples
    assert {s.category for s in train} == {"simple", "multiple", "parallel", "parallel_multiple"}
    assert {"irrelevance", "missing_param"} <= {s.category for s in val}
    for bad, says in [("nope=1", "unknown category 'nope'"), ("simple=x", "not category=weight"),
                      ("simple=-1", ">= 0")]:  # fmt: skip
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path), "--category-weights", bad])
        assert says in capsys.readouterr().err


def test_look_alike_irrelevance_offers_the_needed_parameters_under_another_subject(tmp_path, capsys):
    from cluster.synthetic.generated import SUBJECTS, look_alikes

    triangle = _generated_tool_about("the area of a triangle")
    rng = random.Random(0)
    drawn = [tool for _ in range(40) for tool in look_alikes(rng, triangle, 2, "train")]
    for tool in drawn:  # the same parameters, never the same subject
        assert tool.params == triangle.params and tool.topic != triangle.topic
        assert "triangle_area" not in tool.name and tool.topic in {phrase for phrase, _ in SUBJECTS}
    assert any(t.topic == "the area of a circle" for t in drawn)  # a subject sharing a word, often
    assert len({t.topic for t in drawn}) > 5  # and others
    weather = next(f for f in FUNCTIONS if f.name == "get_weather")  # hand-written tools get them too
    assert all(t.params == weather.params for t in look_alikes(rng, weather, 2, "val"))

    main(["--out", str(tmp_path), "--train", "200", "--val", "40", "--unseen", "0", "--functions", "all",
          "--generated-share", "0.5", "--category-weights", "irrelevance=1,missing_param=0",
          "--look-alike-share", "1"])  # fmt: skip
    train = load_samples(tmp_path / "train.jsonl.gz").samples
    irrelevance = [s for s in train if s.category == "irrelevance"]
    assert len(irrelevance) > 100
    for sample in irrelevance:  # every offered tool takes the same parameters; no call is the answer
        shapes = {tuple(t["parameters"]["properties"]) for t in sample.tools}
        assert len(shapes) == 1 and sample.ground_truth == []
        assert score(sample.reference, [], sample.tools, "irrelevance") == 1.0
    multiple = [s for s in train if s.category == "multiple"]  # call tasks too: a shape is no cue
    assert multiple and all(
        len({tuple(t["parameters"]["properties"]) for t in s.tools}) == 1 for s in multiple
    )
    assert all(score(s.reference, s.ground_truth, s.tools, "multiple") == 1.0 for s in multiple)
    val = load_samples(tmp_path / "val.jsonl").samples  # validation keeps other-family tools
    assert any(
        len({tuple(t["parameters"]["properties"]) for t in s.tools}) > 1 for s in val if not s.ground_truth
    )
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--look-alike-share", "2"])
    assert "expected a share between 0 and 1" in capsys.readouterr().err


def _generated_tool_about(topic: str):
    from cluster.synthetic.generated import generated_tools

    rng = random.Random(1)
    for _ in range(500):
        for tool in generated_tools(rng, 5, "train"):
            if tool.topic == topic:
                return tool
    raise AssertionError(f"no generated tool about {topic}")
