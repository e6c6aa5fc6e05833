"""BFCL evaluation: categories, v3/v4 aggregates, verdict reasons, the cross-check with BFCL's own
checker, the bad-argument messages and the comparison of two runs (no Ray in this file; the
end-to-end runs with Ray and vLLM are in test_eval_command.py)."""

from __future__ import annotations

import json
import math

import pytest

import launch
from cluster.eval import bfcl
from cluster.eval.bfcl import BfclError, CategoryScore, aggregates, parse_categories
from cluster.eval.command import _category_summary
from cluster.eval.report import comparison, comparison_table, summary_table
from cluster.eval.verdicts import Judged, answers_with_call, cross_check, judge
from conformance import bfcl_oracle
from reward import gold_to_calls, render_calls

needs_bfcl = pytest.mark.skipif(not bfcl_oracle.available(), reason="bfcl-eval is not installed")


# ----------------------------------------------------------------------------- aggregates


def hand_made_table() -> dict[str, CategoryScore]:
    return {
        "simple_python": CategoryScore(8, 10),
        "multiple": CategoryScore(6, 10),
        "parallel": CategoryScore(5, 10),
        "parallel_multiple": CategoryScore(4, 10),
        "irrelevance": CategoryScore(9, 10),
        "live_simple": CategoryScore(30, 40),
        "live_multiple": CategoryScore(10, 20),
        "live_parallel": CategoryScore(1, 4),
        "live_parallel_multiple": CategoryScore(1, 4),
        "live_irrelevance": CategoryScore(70, 100),
        "live_relevance": CategoryScore(3, 4),
    }


def test_v3_and_v4_aggregates_on_a_hand_made_table():
    result = aggregates(hand_made_table())
    v3, v4 = result["v3"], result["v4"]
    # v3: Non-Live is the plain mean of simple (python only here), multiple, parallel,
    # parallel_multiple and irrelevance; Live weights every live category by its count.
    assert v3["non_live"]["accuracy"] == pytest.approx((0.8 + 0.6 + 0.5 + 0.4 + 0.9) / 5)
    assert v3["non_live"]["missing"] == ["simple_java", "simple_javascript"]
    assert v3["live"]["accuracy"] == pytest.approx((30 + 10 + 1 + 1 + 70 + 3) / (40 + 20 + 4 + 4 + 100 + 4))
    assert v3["live"]["missing"] == []
    assert v3["overall"]["accuracy"] == pytest.approx((0.64 + 115 / 172) / 2)
    assert v3["overall"]["missing"] == ["multi_turn"]
    # v4: Non-Live without irrelevance; Live over the 4 AST categories; Irrelevance its own part.
    assert v4["non_live"]["accuracy"] == pytest.approx((0.8 + 0.6 + 0.5 + 0.4) / 4)
    assert v4["live"]["accuracy"] == pytest.approx(42 / 68)
    assert v4["irrelevance"]["accuracy"] == pytest.approx((0.9 + 0.7) / 2)
    assert v4["overall"]["accuracy"] == pytest.approx((0.1 * 0.575 + 0.1 * 42 / 68 + 0.1 * 0.8) / 0.3)
    assert v4["overall"]["missing"] == ["multi_turn", "agentic"]

    # Multi-turn: the unweighted mean of the four categories, a part of both overall scores.
    table = {
        **hand_made_table(),
        "multi_turn_base": CategoryScore(10, 20),
        "multi_turn_miss_func": CategoryScore(1, 4),
    }
    result = aggregates(table)
    assert result["v3"]["multi_turn"]["accuracy"] == pytest.approx((0.5 + 0.25) / 2)
    assert result["v3"]["multi_turn"]["missing"] == ["multi_turn_miss_param", "multi_turn_long_context"]
    assert result["v3"]["overall"]["accuracy"] == pytest.approx((0.64 + 115 / 172 + 0.375) / 3)
    assert result["v4"]["overall"]["accuracy"] == pytest.approx(
        (0.1 * 0.575 + 0.1 * 42 / 68 + 0.1 * 0.8 + 0.3 * 0.375) / 0.6
    )


def test_aggregates_of_one_category_name_every_part_not_run():
    result = aggregates({"simple_python": CategoryScore(3, 4)})
    assert result["v3"]["non_live"]["accuracy"] == pytest.approx(0.75)
    assert set(result["v3"]["non_live"]["missing"]) == {
        "multiple", "parallel", "parallel_multiple", "irrelevance", "simple_java", "simple_javascript"
    }  # fmt: skip
    assert result["v3"]["live"]["accuracy"] is None
    assert result["v4"]["irrelevance"]["accuracy"] is None
    table = summary_table(
        {
            "categories": {"simple_python": {"correct": 3, "total": 4, "accuracy": 0.75}},
            "overall": {"correct": 3, "total": 4, "accuracy": 0.75},
            "aggregates": result,
        }
    )
    assert "simple_python" in table and "75.0%" in table
    assert "BFCL v3 Non-Live" in table and "partial: not run" in table


def test_live_weighting_uses_counts_not_category_means():
    result = aggregates({"live_simple": CategoryScore(1, 1), "live_multiple": CategoryScore(0, 9)})
    assert result["v4"]["live"]["accuracy"] == pytest.approx(0.1)  # not (1.0 + 0.0) / 2


# ----------------------------------------------------------------------------- categories


def test_all_single_turn_expands_to_the_python_ast_and_relevance_categories():
    names = parse_categories("all-single-turn")
    assert len(names) == 11 and names[0] == "simple_python" and "live_relevance" in names
    assert parse_categories("multiple, simple_python,multiple") == ["multiple", "simple_python"]
    assert parse_categories("all-multi-turn") == [
        "multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("simple_pyhton", "unknown category 'simple_pyhton'"),
        ("simple_java", "Java"),
        ("multi_turn_base,simple_python", "separate runs"),
        ("", "no category given"),
    ],
)
def test_bad_categories_are_named_with_the_valid_ones(text, says):
    with pytest.raises(BfclError) as info:
        parse_categories(text)
    assert says in str(info.value)
    assert "simple_python" in str(info.value) and "live_relevance" in str(info.value)


@needs_bfcl
def test_questions_come_with_their_gold_and_limit_takes_the_first():
    samples = bfcl.load_category("parallel", limit=3)
    assert [s.id for s in samples] == ["parallel_0", "parallel_1", "parallel_2"]
    assert all(s.category == "parallel" and len(s.ground_truth) >= 2 for s in samples)
    relevance = bfcl.load_category("live_relevance")
    assert len(relevance) == 16 and all(s.ground_truth == [] for s in relevance)
    assert len(bfcl.load_category("irrelevance")) == 240


# ----------------------------------------------------------------------------- verdicts


def _gold_answer(sample) -> str:
    return render_calls(gold_to_calls(sample.ground_truth))


@needs_bfcl
def test_reasons_say_what_is_wrong():
    sample = bfcl.load_category("simple_python", limit=1)[0]  # calculate_triangle_area(base, height, unit)
    gold = _gold_answer(sample)
    cases = {
        f"<think>area</think>{gold}": (True, ""),
        gold: (False, "format: no <think> block"),
        "<think>a</think><think>b</think>" + gold: (False, "exactly one <think>"),
        "<think>area</think>": (False, "nothing after </think>"),
        "<think>area</think>The area is 25.": (False, "not a call list"),
        "<think>x</think>[calculate_triangle_area(base=10)]": (False, "missing parameter(s) height"),
        "<think>x</think>[calculate_triangle_area(base=10, height=5, colour='red')]": (False, "unexpected"),
        "<think>x</think>[calculate_triangle_area(base=11, height=5)]": (False, "values or types"),
        "<think>x</think>[calculate_triangle_area(base=10, height=5), f(a=1)]": (
            False,
            "2 call(s), expected 1",
        ),
        "<think>x</think>[triangle_area(base=10, height=5)]": (False, "called triangle_area"),
        "<think>x</think>[calculate_triangle_area(base=10, height=2+3)]": (False, "non-literal"),
    }
    for text, (correct, reason) in cases.items():
        got_correct, got_reason = judge(text, sample, "python", "python")
        assert got_correct == correct, text
        assert reason in got_reason and bool(got_reason) == (not correct), (text, got_reason)


def test_call_rate_counts_call_lists_right_or_wrong_per_category():
    sample = bfcl.load_category("simple_python", limit=1)[0]
    none_fits = bfcl.load_category("irrelevance", limit=1)[0]
    wrong_call = "<think>x</think>[calculate_triangle_area(base=11, height=5)]"
    outputs = [
        (sample, f"<think>area</think>{_gold_answer(sample)}"),  # right
        (sample, wrong_call),  # a call list, wrong values
        (sample, "<think>x</think>The area is 25."),  # prose
        (none_fits, "<think>x</think>None of the functions fits."),
        (none_fits, wrong_call),  # a call where none fits
    ]
    judged = []
    for s, text in outputs:
        correct, reason = judge(text, s, "think", "python")
        judged.append(
            Judged(s, text, correct=correct, reason=reason, called=answers_with_call(text, "think", "python"))
        )
    summary = _category_summary(judged, ["simple_python", "irrelevance"])
    assert summary["categories"]["simple_python"]["call_rate"] == pytest.approx(2 / 3)
    assert summary["categories"]["irrelevance"]["call_rate"] == pytest.approx(1 / 2)
    assert summary["categories"]["irrelevance"]["correct"] == 1
    assert summary["overall"]["call_rate"] == pytest.approx(3 / 5)
    # of the two call lists where a call is due, one is right; a call where none fits is not counted
    assert summary["categories"]["simple_python"]["call_precision"] == pytest.approx(1 / 2)
    assert summary["categories"]["irrelevance"]["call_precision"] is None
    assert summary["overall"]["call_precision"] == pytest.approx(1 / 2)
    table = summary_table(summary)
    assert "calls" in table.splitlines()[0] and "66.7%" in table
    hermes = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    assert answers_with_call(hermes, "native", "python") and not answers_with_call(
        "Sure.", "native", "python"
    )


def test_pass_at_k_and_mean_at_k_per_category_and_side():
    from cluster.data import Sample

    tool = {"name": "f", "description": "", "parameters": {"type": "dict", "properties": {}}}
    question = [{"role": "user", "content": "q"}]
    call, none = (
        Sample(id=i, messages=question, tools=[tool], ground_truth=gold, category=category)
        for i, gold, category in (("a", [{"f": {}}], "simple"), ("b", [], "irrelevance"))
    )
    judged = [
        Judged(call, correct=True, samples=[True, False, False, False]),
        Judged(call, correct=False, samples=[False, False, True, True]),  # greedy misses, sampling finds it
        Judged(call, correct=False, samples=[False, False, False, False]),
        Judged(call, correct=False),  # prompt too long: never sampled, counts as never right
        Judged(none, correct=True, samples=[True, True, True, True]),
    ]
    summary = _category_summary(judged, ["simple", "irrelevance"])
    simple = summary["categories"]["simple"]
    assert simple["accuracy"] == pytest.approx(1 / 4)
    assert simple["pass_at_k"] == pytest.approx(2 / 4)
    assert simple["mean_at_k"] == pytest.approx((1 / 4 + 2 / 4) / 4)
    assert summary["overall"]["pass_at_k"] == pytest.approx(3 / 5)
    assert summary["sides"]["need a call"]["pass_at_k"] == pytest.approx(2 / 4)
    assert summary["sides"]["need none"]["accuracy"] == 1.0
    table = summary_table({**summary, "samples": 4})
    header = table.splitlines()[0]
    assert "pass@4" in header and "mean@4" in header
    assert any(line.startswith("need a call") and "50.0%" in line for line in table.splitlines())
    plain = _category_summary([Judged(call, correct=True)], ["simple"])
    assert "pass_at_k" not in plain["overall"] and "pass@" not in summary_table(plain)


@needs_bfcl
def test_native_format_needs_no_think_and_reads_tool_call_blocks():
    sample = bfcl.load_category("simple_python", limit=1)[0]
    call = gold_to_calls(sample.ground_truth)[0]
    assert judge(_gold_answer(sample), sample, "native", "python") == (True, "")
    hermes = "<tool_call>" + json.dumps(call) + "</tool_call>"
    assert judge(hermes, sample, "native", "python") == (True, "")
    assert judge("I would compute it.", sample, "native", "python")[0] is False


@needs_bfcl
def test_native_prompt_is_bfcls_own_prompt_mode_prompt_without_template_tools(tiny_model_dir):
    from cluster.eval.command import native_prompt_ids
    from common.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    sample = bfcl.load_category("simple_python", limit=1)[0]
    text = tokenizer.decode(native_prompt_ids(sample, tokenizer))
    assert "You are an expert in composing functions." in text
    assert "calculate_triangle_area" in text and "<think>" not in text
    assert sample.messages[0]["content"] in text


def _judged(sample, text: str, fmt: str = "python") -> Judged:
    item = Judged(sample, text, finish_reason="stop")
    item.correct, item.reason = judge(text, sample, fmt, "python")
    return item


@needs_bfcl
def test_cross_check_agrees_with_bfcl_on_right_wrong_and_malformed_outputs():
    """Right and wrong answers in every kind of category: BFCL's decode + ast_checker agree."""
    items = []
    for category in ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple"):
        for sample in bfcl.load_category(category, limit=4):
            gold = _gold_answer(sample)
            calls = gold_to_calls(sample.ground_truth)
            dropped = [
                {"name": c["name"], "arguments": dict(list(c["arguments"].items())[:-1])} for c in calls
            ]
            items += [
                _judged(sample, f"<think>fits</think>{gold}"),
                _judged(sample, f"<think>fits</think>{render_calls(calls[::-1])}"),  # order (parallel)
                _judged(sample, f"<think>fits</think>{render_calls(dropped)}"),
                _judged(sample, f"<think>fits</think>{render_calls(calls[:1])}"),
                _judged(sample, "<think>hmm</think>I cannot do that."),
                _judged(sample, gold),  # no think: the format gate
            ]
    for sample in bfcl.load_category("irrelevance", limit=3) + bfcl.load_category("live_relevance", limit=3):
        some_call = render_calls([{"name": sample.tools[0]["name"], "arguments": {}}])
        items += [
            _judged(sample, "<think>none fits</think>No function fits."),
            _judged(sample, f"<think>try</think>{some_call}"),
            _judged(sample, "<think>none</think>[]"),
        ]
    result = cross_check(items, "python", "python")
    assert result["disagreements"] == []
    assert result["agreement"] == 1.0 and result["agree"] == len(items) == result["outputs"]
    assert result["answer_checked"] > 100 and result["format_gate"] > 10
    verdicts = {item.correct for item in items}
    assert verdicts == {True, False}
    assert all(item.bfcl is not None for item in items)


@needs_bfcl
def test_cross_check_reports_a_disagreement_and_never_hands_code_to_bfcls_decoder(tmp_path):
    sample = bfcl.load_category("simple_python", limit=1)[0]
    # A bare name: BFCL's decoder reads it as the string 'units', our grammar rejects it.
    bare = "<think>x</think>[calculate_triangle_area(base=10, height=5, unit=units)]"
    marker = tmp_path / "executed"
    code = f"<think>x</think>[calculate_triangle_area(base=10, height=open({str(marker)!r}, 'w') and 5 + 0)]"
    result = cross_check([_judged(sample, bare), _judged(sample, code)], "python", "python")
    assert not marker.exists()  # BFCL's decoder would eval a binary operation; it never saw this text
    assert result["skipped_unsafe"] == 1
    assert [d["id"] for d in result["disagreements"]] == [sample.id]
    assert result["disagreements"][0]["ours"] is False and result["disagreements"][0]["bfcl"] is True
    assert result["agreement"] == 0.0


# ----------------------------------------------------------------------------- command line


def _run(argv, capsys) -> tuple[int, str, str]:
    status = launch.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_unknown_category_exits_2_naming_the_valid_ones(capsys, tmp_path):
    status, _, err = _run(
        ["eval", "--model", "tiny", "--bfcl", "simple_pyton", f"logging.runs_dir={tmp_path}"], capsys
    )
    assert status == 2
    assert "unknown category 'simple_pyton'" in err and "simple_python" in err and "live_multiple" in err
    assert "Traceback" not in err and not any(tmp_path.iterdir())


@needs_bfcl
def test_missing_model_dir_exits_2_with_a_clear_message(capsys, tmp_path):
    missing = tmp_path / "no-such-model"
    status, _, err = _run(["eval", "--model", str(missing), "--bfcl", "simple_python"], capsys)
    assert status == 2
    assert str(missing) in err and "no such directory" in err and "Traceback" not in err


def test_bfcl_eval_not_installed_exits_2_with_the_install_command(capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bfcl_eval", None)  # as if the package were absent
    status, _, err = _run(["eval", "--model", "tiny", "--bfcl", "simple_python"], capsys)
    assert status == 2
    assert "bfcl-eval package is not installed" in err and "pip install --no-deps bfcl-eval" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--model", "tiny"], "exactly one of --bfcl"),
        (["--bfcl", "simple_python", "--data", "val"], "exactly one of --bfcl"),
        (["--bfcl", "simple_python", "--limit", "0"], "--limit 0"),
        (["--bfcl", "simple_python", "--temperature", "-1"], "--temperature"),
        (["--data", "val", "--cross-check"], "apply to --bfcl only"),
        (["--data", "val", "--samples", "1"], "--samples 1"),
        (["--bfcl", "multi_turn_base", "--samples", "4"], "single-turn"),
        (["--data", "val", "--samples", "4", "rollout.temperature=0"], "rollout.temperature"),
        (["--bfcl", "simple_python", "--max-new-tokens", "99999"], "--max-new-tokens 99999"),
    ],
)
def test_inconsistent_flags_exit_2(argv, says, capsys):
    status, _, err = _run(["eval", *argv], capsys)
    assert status == 2 and says in err and "Traceback" not in err


def _summary(name: str, accuracies: dict[str, tuple[int, int]]) -> dict:
    categories = {c: {"correct": k, "total": n, "accuracy": k / n} for c, (k, n) in accuracies.items()}
    correct, total = sum(k for k, _ in accuracies.values()), sum(n for _, n in accuracies.values())
    scores = {c: CategoryScore(k, n) for c, (k, n) in accuracies.items()}
    return {
        "name": name,
        "model": f"runs/{name}/final",
        "categories": categories,
        "overall": {"correct": correct, "total": total, "accuracy": correct / total},
        "aggregates": aggregates(scores),
    }


def test_compare_prints_both_runs_side_by_side_and_draws_a_png(capsys, tmp_path):
    before = _summary("grpo", {"simple_python": (20, 100), "irrelevance": (50, 100)})
    after = _summary("egpo", {"simple_python": (35, 100), "multiple": (10, 40)})
    for summary in (before, after):
        folder = tmp_path / summary["name"] / "eval"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(summary))
    status, out, _ = _run(
        [
            "eval",
            "--compare",
            str(tmp_path / "grpo" / "eval"),
            str(tmp_path / "egpo"),  # a run directory works too
            "--name",
            "cmp",
            f"logging.runs_dir={tmp_path}",
        ],
        capsys,
    )
    assert status == 0
    row = next(line for line in out.splitlines() if line.startswith("simple_python"))
    assert "20.0%" in row and "35.0%" in row and "+15.0 pts" in row
    multiple = next(line for line in out.splitlines() if line.startswith("multiple"))
    assert "25.0%" in multiple and multiple.rstrip().endswith("-")  # only B ran it
    assert "A: grpo" in out and "B: egpo" in out and "BFCL v4 Overall" in out
    png = tmp_path / "cmp" / "comparison.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert saved["categories"]["simple_python"]["delta"] == pytest.approx(0.15)


def test_compare_gives_each_side_and_pass_at_k_when_both_sampled():
    before = _summary("warm", {"simple": (20, 100), "irrelevance": (80, 100)})
    after = _summary("rl", {"simple": (30, 100), "irrelevance": (70, 100)})
    for summary, passes in ((before, (0.3, 0.9)), (after, (0.4, 0.95))):
        summary["samples"] = 8
        summary["sides"] = {
            side: {"accuracy": summary["categories"][c]["accuracy"], "pass_at_k": p}
            for side, c, p in zip(
                ("need a call", "need none"), ("simple", "irrelevance"), passes, strict=True
            )
        }
    result = comparison(before, after)
    assert result["categories"]["need a call"]["delta"] == pytest.approx(0.1)
    assert result["categories"]["need none"]["delta"] == pytest.approx(-0.1)
    assert result["categories"]["need a call, pass@8"]["delta"] == pytest.approx(0.1)
    assert "need none, pass@8" in comparison_table(result)
    after["samples"] = 4  # different K: no pass@K rows
    assert not any("pass@" in name for name in comparison(before, after)["categories"])


def test_compare_of_a_missing_evaluation_exits_2(capsys, tmp_path):
    status, _, err = _run(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b")], capsys)
    assert status == 2 and "no evaluation summary" in err and "Traceback" not in err


def test_comparison_table_handles_missing_values():
    result = comparison(
        _summary("a", {"parallel": (1, 2)}), _summary("b", {"parallel": (2, 2), "live_simple": (1, 4)})
    )
    assert result["categories"]["live_simple"]["a"] is None
    assert result["categories"]["parallel"]["delta"] == pytest.approx(0.5)
    table = comparison_table(result)
    assert "+50.0 pts" in table and not math.isnan(result["categories"]["parallel"]["b"])


def test_a_run_directory_means_its_newest_checkpoint(tmp_path):
    from cluster.config import load_config
    from cluster.models.resolve import ModelNotFound, eval_model_dir

    run = tmp_path / "run"
    for step in ("step-000002", "step-000010", "step-000009"):
        (run / "checkpoints" / step).mkdir(parents=True)
        (run / "checkpoints" / step / "config.json").write_text("{}")
    (run / "checkpoints" / ".step-000011.partial").mkdir()  # an interrupted write never counts
    config = load_config("tiny", [f"model.path={run}"])
    assert eval_model_dir(config) == run / "checkpoints" / "step-000010"
    empty = load_config("tiny", [f"model.path={tmp_path}"])
    with pytest.raises(ModelNotFound, match="no config.json and no checkpoints"):
        eval_model_dir(empty)
