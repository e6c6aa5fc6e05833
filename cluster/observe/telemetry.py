"""Run telemetry for the Ray dashboard: each step's metrics as ``ray.util.metrics`` gauges, counters
and histograms.

Ray exports custom metrics in Prometheus text format on every node's metrics export port
(``ray start --metrics-export-port``), with the prefix ``ray_``: the gauge ``egpo_reward_mean``
is scraped as ``ray_egpo_reward_mean{run="<run name>", ...}``. The dashboard's Metrics view and
Grafana read them from Prometheus.

The driver feeds :meth:`Telemetry.record` the same per-step dict it writes to ``metrics.jsonl``;
nothing here changes what is trained or logged.
"""

from __future__ import annotations

import math
import re
from typing import Any

# metrics.jsonl key -> (Prometheus gauge name, description). Names are Prometheus-safe.
GAUGES: dict[str, tuple[str, str]] = {
    "reward/mean": ("egpo_reward_mean", "Mean strict binary reward of the step's completions (Eq. 3)."),
    "reward/call_prompts": (
        "egpo_reward_call_prompts",
        "Mean reward of the step's completions on prompts that need a call.",
    ),
    "reward/no_call_prompts": (
        "egpo_reward_no_call_prompts",
        "Mean reward of the step's completions on prompts that need no call (abstaining is right).",
    ),
    "call_rate/train": (
        "egpo_train_call_rate",
        "Share of the step's completions on call-needing prompts written as a call list.",
    ),
    "eval/accuracy": ("egpo_eval_accuracy", "Validation accuracy, greedy decoding, strict reward."),
    "eval/count": ("egpo_eval_prompts", "Validation prompts in the last evaluation."),
    "eval/call_rate": (
        "egpo_eval_call_rate",
        "Share of validation prompts that need a call answered with a call list, right or wrong.",
    ),
    "eval/call_precision": (
        "egpo_eval_call_precision",
        "Share of the validation call lists on prompts that need a call that are right.",
    ),
    "eval/call_prompts": (
        "egpo_eval_call_prompts_accuracy",
        "Validation accuracy on the prompts that need a call.",
    ),
    "eval/no_call_prompts": (
        "egpo_eval_no_call_prompts_accuracy",
        "Validation accuracy on the prompts that need no call.",
    ),
    "eval/slice/unseen_values": (
        "egpo_eval_unseen_values_accuracy",
        "Validation accuracy on the slice whose argument values never occur in training.",
    ),
    "multiturn/success": (
        "egpo_multiturn_success",
        "Share of the step's trajectories whose every user turn passed.",
    ),
    "multiturn/turn_pass_rate": (
        "egpo_multiturn_turn_pass_rate",
        "Share of the user turns played in the step's trajectories that passed their check (not rewarded).",
    ),
    "multiturn/turns_per_trajectory": ("egpo_multiturn_turns", "User turns played per trajectory."),
    "multiturn/calls_per_turn": (
        "egpo_multiturn_calls_per_turn",
        "Calls the model made per user turn played.",
    ),
    "multiturn/env_errors": (
        "egpo_multiturn_env_errors",
        "Environment observations that are errors, per trajectory.",
    ),
    "multiturn/observation_tokens": (
        "egpo_multiturn_observation_tokens",
        "Tool-result and user tokens of the step's trajectories (masked out of the loss).",
    ),
    "entropy/cot": ("egpo_cot_entropy", "Mean chain-of-thought entropy of the step's completions."),
    "entropy/token": ("egpo_token_entropy", "Mean per-token entropy of the step's completions."),
    "kl": ("egpo_kl", "KL divergence of the policy from the reference (initial) policy."),
    "loss": ("egpo_loss", "Total learner loss of the step."),
    "pg_loss": ("egpo_pg_loss", "Policy-gradient part of the learner loss."),
    "grad_norm": ("egpo_grad_norm", "Gradient norm before clipping."),
    "clip_frac": ("egpo_clip_fraction", "Fraction of tokens whose importance ratio was clipped."),
    "lr": ("egpo_learning_rate", "Learning rate of the step."),
    "adv/mean": ("egpo_advantage_mean", "Mean EGPO advantage A' (Eq. 5)."),
    "adv/std": ("egpo_advantage_std", "Standard deviation of the EGPO advantage A'."),
    "adv/bonus_mean": ("egpo_entropy_bonus_mean", "Mean clipped entropy bonus added to the advantage."),
    "frac_zero_std_groups": (
        "egpo_zero_std_group_fraction",
        "Fraction of groups whose rewards are all equal.",
    ),
    "frac_truncated": ("egpo_truncated_fraction", "Fraction of completions cut at max_new_tokens."),
    "response_length/mean": ("egpo_response_length_mean", "Mean completion length in tokens."),
    "throughput/tokens_per_s": (
        "egpo_tokens_per_second",
        "Prompt + completion tokens per second of step wall time.",
    ),
    "throughput/learner_tokens_per_s": (
        "egpo_learner_tokens_per_second",
        "Prompt + completion tokens per second of learner time.",
    ),
    "logprob_diff/sampler_vs_learner": (
        "egpo_sampler_learner_logprob_gap",
        "Mean absolute gap between the sampler's and the learner's token log-probs.",
    ),
    "pool/rollout_workers": ("egpo_rollout_workers", "Rollout workers in the pool."),
    "pool/target_workers": ("egpo_rollout_target_workers", "Rollout workers the pool is asked to hold."),
    "pool/worker_restarts": ("egpo_rollout_worker_restarts", "Rollout workers replaced so far."),
    "pool/redispatched_chunks": (
        "egpo_rollout_redispatched_chunks",
        "Generation chunks of the step sent again after a worker left.",
    ),
    "pool/stale_completions": (
        "egpo_rollout_stale_completions",
        "Completions of the step sampled with another policy version than the one handed out.",
    ),
    "pool/reward_actors": ("egpo_reward_actors", "Reward actors in the pool."),
    "pool/learners": ("egpo_learners", "Learner actors in the group."),
    "queue/depth": ("egpo_queue_depth", "Rollout requests waiting for a worker."),
    "policy_version": ("egpo_policy_version", "Policy version (learner updates) the rollout workers hold."),
    "policy/staleness": (
        "egpo_policy_staleness",
        "Learner updates between the policy that sampled the step and the policy it trained.",
    ),
}
STEP_GAUGE = "egpo_step"
PHASE_GAUGE = "egpo_phase_seconds"
CATEGORY_GAUGE = "egpo_eval_accuracy_by_category"
OTHER_GAUGE = "egpo_metric"
STEP_HISTOGRAM = "egpo_step_seconds"
STEPS_COUNTER = "egpo_steps"
TOKENS_COUNTER = "egpo_tokens"
EVALS_COUNTER = "egpo_evaluations"
# Seconds per step: from a tiny model on 2 CPU cores to a large model on GPUs.
STEP_BOUNDARIES = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def prometheus_name(key: str) -> str:
    """A metrics.jsonl key as a Prometheus-safe name: ``time/weight_sync`` -> ``time_weight_sync``."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key).strip("_")
    if not name or name[0].isdigit():
        name = "m_" + name
    if not _NAME.match(name):  # pragma: no cover - the substitution above already guarantees it
        raise ValueError(f"metric key {key!r} has no Prometheus-safe name")
    return name


def metric_names() -> list[str]:
    """Every metric :class:`Telemetry` defines (without Ray's ``ray_`` export prefix)."""
    return sorted(
        [name for name, _ in GAUGES.values()]
        + [STEP_GAUGE, PHASE_GAUGE, CATEGORY_GAUGE, OTHER_GAUGE, STEP_HISTOGRAM]
        + [STEPS_COUNTER, TOKENS_COUNTER, EVALS_COUNTER]
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Telemetry:
    """Ray metrics of one run, tagged ``run=<run name>``.

    ``record(step, metrics)`` sets a gauge per known key (:data:`GAUGES`), one gauge per timing
    (``egpo_phase_seconds{phase="generate"}`` for ``time/generate``), per-category validation
    accuracy, a catch-all ``egpo_metric{name=...}`` for other numeric keys, observes the step time
    in a histogram and counts steps, tokens and evaluations. Without a Ray connection (or with
    ``enabled=False``) it does nothing, so the driver can call it unconditionally.
    """

    def __init__(self, run_name: str, enabled: bool = True):
        self.run_name = run_name
        self.enabled = enabled and _ray_connected()
        if not self.enabled:
            return
        from ray.util.metrics import Counter, Gauge, Histogram

        tags = {"run": run_name}

        def gauge(name: str, description: str, *extra: str) -> Gauge:
            g = Gauge(name, description=description, tag_keys=("run", *extra))
            g.set_default_tags(tags)
            return g

        def counter(name: str, description: str) -> Counter:
            c = Counter(name, description=description, tag_keys=("run",))
            c.set_default_tags(tags)
            return c

        self._gauges = {key: gauge(name, description) for key, (name, description) in GAUGES.items()}
        self._step = gauge(STEP_GAUGE, "Last completed training step.")
        self._phase = gauge(PHASE_GAUGE, "Seconds the last step spent in each phase.", "phase")
        self._category = gauge(CATEGORY_GAUGE, "Validation accuracy per category.", "category")
        self._other = gauge(OTHER_GAUGE, "Other numeric per-step metrics, by metrics.jsonl key.", "name")
        self._step_seconds = Histogram(
            STEP_HISTOGRAM,
            description="Wall-clock seconds per training step.",
            boundaries=STEP_BOUNDARIES,
            tag_keys=("run",),
        )
        self._step_seconds.set_default_tags(tags)
        self._steps = counter(STEPS_COUNTER, "Training steps completed.")
        self._tokens = counter(TOKENS_COUNTER, "Completion tokens the learner trained on.")
        self._evals = counter(EVALS_COUNTER, "Evaluations run.")

    def record(self, step: int, metrics: dict[str, Any]) -> None:
        """Export one step's metrics (the dict written to metrics.jsonl); step 0 is the evaluation
        before training."""
        if not self.enabled:
            return
        self._step.set(step)
        for key, raw in metrics.items():
            value = _number(raw)
            if value is None:
                continue
            if key in self._gauges:
                self._gauges[key].set(value)
            elif key.startswith("time/"):
                self._phase.set(value, tags={"phase": prometheus_name(key[len("time/") :])})
            elif key.startswith("eval/accuracy/"):
                self._category.set(value, tags={"category": key[len("eval/accuracy/") :]})
            elif key != "tokens":
                self._other.set(value, tags={"name": key})
        if "eval/accuracy" in metrics:
            self._evals.inc()
        if step > 0 and _number(metrics.get("time/step")) is not None:
            self._steps.inc()
            self._step_seconds.observe(float(metrics["time/step"]))
        tokens = _number(metrics.get("tokens"))
        if tokens:
            self._tokens.inc(tokens)


def _ray_connected() -> bool:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return ray.is_initialized()


def parse_prometheus(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of a Prometheus text exposition: ``{name: [(labels, value), ...]}``."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = line_re.match(line)
        if not match:
            continue
        labels = dict(label_re.findall(match.group(3) or ""))
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        samples.setdefault(match.group(1), []).append((labels, value))
    return samples
