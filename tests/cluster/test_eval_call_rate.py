"""The call rate and the end-of-run accuracy report: a policy that gains accuracy only by
abstaining is named as such, not reported as a plain improvement."""

from __future__ import annotations

from cluster.data import load_samples
from cluster.data.feed import Prompt
from cluster.eval.sides import call_precision, call_rate, rollout_split, side_accuracy
from cluster.eval.validation import accuracy_report
from reward.score import Verdict, judge

CALL = "<think>The user wants the weather.</think>[get_weather(city='Oslo')]"
ABSTAIN = "<think>No given function fits.</think>None of the given functions can do that."


def _prompts() -> list[Prompt]:
    samples = load_samples("data/val.jsonl").samples
    need = [s for s in samples if s.ground_truth][:3]
    no_call = [s for s in samples if not s.ground_truth][:2]
    return [Prompt(s, []) for s in need + no_call]


def _verdicts(prompts: list[Prompt], texts: list[str], rewards: list[float] | None = None) -> list[Verdict]:
    """The verdicts the reward pool returns for ``texts`` (its reward, or ``rewards`` when given)."""
    judged = [judge(t, p.sample.ground_truth, p.sample.tools) for p, t in zip(prompts, texts, strict=True)]
    return [
        Verdict(r, v.call_syntax) for v, r in zip(judged, rewards or [v.reward for v in judged], strict=True)
    ]


def test_the_verdict_says_whether_the_answer_is_a_call_list_right_or_wrong():
    gold, tools = [{"get_weather": {"city": ["Oslo"]}}], []
    assert judge(CALL, gold, tools).call_syntax and judge(CALL, [], tools) == Verdict(0.0, True)
    assert judge(ABSTAIN, [], tools) == Verdict(1.0, False)
    no_think = "[get_weather(city='Oslo')]"  # outside the grammar: not a call
    assert judge(no_think, gold, tools) == Verdict(0.0, False)
    hermes = '<think>t</think><tool_call>{"name": "f", "arguments": {}}</tool_call>'
    assert judge(hermes, gold, tools, fmt="hermes").call_syntax
    assert not judge(hermes, gold, tools).call_syntax


def test_call_rate_counts_call_lists_on_prompts_that_need_a_call_only():
    prompts = _prompts()  # three need a call, two do not
    assert call_rate(prompts, _verdicts(prompts, [CALL, CALL, ABSTAIN, CALL, CALL])) == 2 / 3
    assert call_rate(prompts, _verdicts(prompts, [ABSTAIN, ABSTAIN, ABSTAIN, CALL, CALL])) == 0.0
    assert call_rate(prompts[3:], _verdicts(prompts[3:], [ABSTAIN, ABSTAIN])) is None


def test_call_precision_is_the_share_right_of_the_calls_made_where_one_is_due():
    prompts = _prompts()  # three need a call, two do not
    texts = [CALL, CALL, ABSTAIN, CALL, ABSTAIN]
    # one right call, one wrong, one abstention (wrong, not a call); the no-call prompts don't count
    assert call_precision(prompts, _verdicts(prompts, texts, [1.0, 0.0, 0.0, 0.0, 1.0])) == 1 / 2
    assert call_precision(prompts, _verdicts(prompts, texts, [1.0, 1.0, 0.0, 0.0, 1.0])) == 1.0
    assert call_precision(prompts, _verdicts(prompts, [ABSTAIN] * 5)) is None


def test_report_gives_the_call_precision_beside_the_call_rate():
    before = {"eval/call_rate": 0.5, "eval/call_precision": 0.2}
    after = {"eval/call_rate": 0.8, "eval/call_precision": 0.25}
    assert accuracy_report(before, after) == [
        "Prompts that need a call answered with one (right or wrong): 50% -> 80%; "
        "of those calls, right (call precision): 20% -> 25%."
    ]


def test_report_warns_when_the_gain_is_abstention():
    before = {"eval/accuracy/simple": 0.1, "eval/accuracy/irrelevance": 0.2, "eval/call_rate": 0.9}
    after = {"eval/accuracy/simple": 0.0, "eval/accuracy/irrelevance": 0.9, "eval/call_rate": 0.1}
    lines = accuracy_report(before, after)
    assert lines[0] == "By category: irrelevance 0.20 -> 0.90, simple 0.10 -> 0.00."
    assert "90% -> 10%" in lines[1]
    assert lines[-1].startswith("Warning: the policy now abstains")


def test_report_has_no_warning_when_calls_hold():
    before = {"eval/accuracy/simple": 0.1, "eval/call_rate": 0.8}
    after = {"eval/accuracy/simple": 0.4, "eval/call_rate": 0.7}
    lines = accuracy_report(before, after)
    assert len(lines) == 2 and not any(line.startswith("Warning") for line in lines)


def test_rollout_split_separates_rewards_and_calls_by_what_the_prompt_needs():
    prompts = _prompts()[2:4]  # one needs a call, one does not
    texts = [[CALL, ABSTAIN, CALL], [ABSTAIN, CALL, ABSTAIN]]
    rewards = [[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]]
    verdicts = [_verdicts([p] * 3, t, r) for p, t, r in zip(prompts, texts, rewards, strict=True)]
    assert rollout_split(prompts, verdicts) == {
        "reward/call_prompts": 1 / 3,
        "call_rate/train": 2 / 3,
        "reward/no_call_prompts": 2 / 3,
    }
    assert rollout_split(prompts[1:], verdicts[1:]) == {"reward/no_call_prompts": 2 / 3}


def test_side_accuracy_splits_call_and_no_call_prompts_and_reports_the_unseen_values_slice():
    samples = load_samples("data/val.jsonl").samples
    unseen = [s for s in samples if s.slice == "unseen_values"]
    need = [s for s in samples if s.ground_truth and not s.slice][:2]
    no_call = [s for s in samples if not s.ground_truth and not s.slice][:1]
    slice_need = [s for s in unseen if s.ground_truth][:1]
    prompts = [Prompt(s, []) for s in need + no_call + slice_need]
    assert side_accuracy(prompts, [1.0, 0.0, 1.0, 0.0]) == {
        "eval/call_prompts": 1 / 3,
        "eval/no_call_prompts": 1.0,
        "eval/slice/unseen_values": 0.0,
    }
    assert side_accuracy(prompts[:2], [1.0, 1.0]) == {"eval/call_prompts": 1.0}


def test_report_prints_both_sides_and_the_slice():
    before = {"eval/call_prompts": 0.25, "eval/no_call_prompts": 0.5, "eval/slice/unseen_values": 0.1}
    after = {"eval/call_prompts": 0.4, "eval/no_call_prompts": 0.45, "eval/slice/unseen_values": 0.2}
    assert accuracy_report(before, after) == [
        "Accuracy on prompts that need a call 0.250 -> 0.400, prompts that need none 0.500 -> 0.450, "
        "slice unseen_values 0.100 -> 0.200."
    ]
