"""Multi-turn RL's step pieces (cluster/trajectories.py): G trajectories per task played with the
environment in the loop become masked completions of one group, judged by the trajectory reward.
A scripted rollout (no model) on the tiny model's tokenizer; the reward pool's method runs in process."""

from __future__ import annotations

import pytest

from cluster.config import RunConfig
from cluster.data.tasks import render_tasks
from cluster.roles.rollout_pool import Sampling
from cluster.synthetic.multiturn import generate_split
from cluster.trajectories import play_and_judge, trajectory_metrics
from common.tokenizer import load_tokenizer
from common.types import RolloutBatch
from reward.pool import RewardActor
from reward.trajectory import step_calls

DONE = "<think>All done.</think>Done."
G = 3


class ScriptedRollout:
    """The rollout pool's ``generate`` answering from a script per task (found by its first
    question in the prompt), step by step (the assistant turns in the prompt so far)."""

    def __init__(self, tokenizer, scripts: dict[str, list[str]]):
        self.tokenizer, self.scripts = tokenizer, scripts

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False) + [self.tokenizer.eos_token_id]

    def generate(self, prompts, sampling):
        assert sampling.group_size == 1 and sampling.temperature == 1.0
        out = []
        for ids in prompts:
            text = self.tokenizer.decode(ids)
            (question,) = [q for q in self.scripts if q in text]
            step = text.count("<|im_start|>assistant") - 1  # the generation prompt opens one more
            output = self.scripts[question][step]
            token_ids = self.encode(output)
            out.append([{"text": output, "token_ids": token_ids, "logprobs": [-0.5] * len(token_ids),
                         "finish_reason": "stop"}])  # fmt: skip
        return out


class InProcessJudge:
    def judge_trajectories(self, groups):
        return RewardActor().judge_trajectory_chunk(groups)


@pytest.fixture(scope="module")
def tasks():
    tasks = generate_split("train", 40, seed=3)
    firsts = [t["question"][0][0]["content"] for t in tasks]
    unique = [t for t, q in zip(tasks, firsts, strict=True) if sum(q in o for o in firsts) == 1]
    return unique[:2]


def test_trajectories_become_masked_completions_with_the_trajectory_reward(tiny_model_dir, tasks):
    tokenizer = load_tokenizer(tiny_model_dir)
    perfect, silent = tasks
    scripts = {
        perfect["question"][0][0]["content"]: [
            s for ref in perfect["reference"] for s in ([ref, DONE] if step_calls(ref) else [ref])
        ],
        silent["question"][0][0]["content"]: [DONE] * 10,  # never calls: fails the first turn needing one
    }
    rollout = ScriptedRollout(tokenizer, scripts)
    cfg = RunConfig.model_validate(
        {"data": {"multi_turn": True, "prompt_style": "signatures"}, "rollout": {"group_size": G}}
    )
    prompts = render_tasks(tasks, tokenizer, cfg, "test")
    timings = {"time/generate": 0.0, "time/score": 0.0}
    sampling = Sampling(G, 1.0, max_new_tokens=64, seed=7)
    groups, verdicts = play_and_judge(
        prompts, sampling, rollout, InProcessJudge(), timings, tokenizer=tokenizer, cfg=cfg
    )
    assert [[v.reward for v in group] for group in verdicts] == [[1.0] * G, [0.0] * G]
    assert all(v.turns_passed == v.turns for v in verdicts[0])
    assert timings["time/env"] > 0

    batch = RolloutBatch(
        prompt_ids=[p.ids for p in prompts],
        completion_ids=[[c["token_ids"] for c in g] for g in groups],
        sampler_logprobs=[[c["logprobs"] for c in g] for g in groups],
        loss_mask=[[c["loss_mask"] for c in g] for g in groups],
        rewards=[[v.reward for v in g] for g in verdicts],
        temperature=1.0,
        staleness=0,
    )
    assert batch.group_size == G
    for prompt, group in zip(prompts, groups, strict=True):
        question = prompt.task["question"][0][0]["content"]
        for c in group:
            ids, mask = c["token_ids"], c["loss_mask"]
            sampled = [t for t, m in zip(ids, mask, strict=True) if m]
            # token in / token out: the model's tokens are exactly the ids it sampled, in order
            steps = [rollout.encode(text) for text in scripts[question][: c["steps"]]]
            assert sampled == [t for step in steps for t in step]
            assert all(lp == -0.5 for lp, m in zip(c["logprobs"], mask, strict=True) if m)
            assert all(lp == 0.0 for lp, m in zip(c["logprobs"], mask, strict=True) if not m)
    # the masked tokens hold the tool results and the next user turns
    first = groups[0][0]
    observed = tokenizer.decode(
        [t for t, m in zip(first["token_ids"], first["loss_mask"], strict=True) if not m]
    )
    later_users = [m["content"] for turn in perfect["question"][1:] for m in turn]
    assert later_users and all(text in observed for text in later_users)
    metrics = trajectory_metrics(groups, verdicts)
    assert metrics["multiturn/observation_tokens"] > 0 and metrics["multiturn/model_tokens"] > 0
    turns = len(perfect["question"]), len(silent["question"])  # every turn of one, none of the other
    assert metrics["multiturn/turn_pass_rate"] == pytest.approx(turns[0] / sum(turns))
    assert metrics["multiturn/success"] == 0.5
    assert metrics["multiturn/turns_per_trajectory"] >= 1.5


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reward": {"output_format": "hermes"}}, "reward.output_format"),
    ],
)
def test_multi_turn_config_names_what_it_needs(overrides, field):
    with pytest.raises(ValueError, match=field):
        RunConfig.model_validate({"data": {"multi_turn": True}, **overrides})
    RunConfig.model_validate(overrides)  # fine for single-turn samples


def test_the_multi_turn_warm_start_reads_every_step_of_the_reference_plays(tiny_model_dir, tasks):
    from cluster.data.tasks import reference_script, reference_steps

    tokenizer = load_tokenizer(tiny_model_dir)
    cfg = RunConfig.model_validate({"data": {"multi_turn": True, "prompt_style": "signatures"}})
    examples = reference_steps(tasks, tokenizer, cfg)
    scripts = [reference_script(t) for t in tasks]
    assert [e.sample.reference for e in examples] == [s for script in scripts for s in script]
    first = render_tasks(tasks[:1], tokenizer, cfg, "test")[0]
    steps = examples[: len(scripts[0])]
    assert steps[0].ids == first.ids  # the first step sees the first prompt
    for before, after in zip(steps, steps[1:], strict=False):  # each later one, all that came before
        sampled = tokenizer.encode(before.sample.reference, add_special_tokens=False)
        assert after.ids[: len(before.ids) + len(sampled)] == before.ids + sampled
