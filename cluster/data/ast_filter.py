"""The paper's AST filter (egpo-spec.md Sec. 5): drop samples whose gold cannot be satisfied.

A sample with gold calls is kept only if its own gold, made concrete (``reward.gold_to_calls``)
and written as a completion in the answer format, parses back and scores 1 under the strict
checker against the sample's tools. A gold naming a function that is not offered, a value that
does not render, or a gold inconsistent with its schema (a wrong type, a missing required
argument, a call count that the category forbids) is dropped. Samples expecting no call are kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cluster.data.sample import Sample
from reward import gold_to_calls, render_calls, score


@dataclass
class FilterReport:
    """Counts before and after the filter, and why each dropped sample went (``id: reason``)."""

    before: int
    after: int
    dropped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"AST filter: kept {self.after} of {self.before} samples"
        if not self.dropped:
            return head
        reasons = Counter(reason.split(": ", 1)[1] for reason in self.dropped)
        listed = "; ".join(f"{count} x {reason}" for reason, count in reasons.most_common(5))
        return f"{head} (dropped {len(self.dropped)}: {listed})"


def unsatisfiable_reason(sample: Sample, fmt: str = "python") -> str | None:
    """Why the sample's gold cannot be satisfied, or None when its own gold scores 1."""
    if not sample.ground_truth:
        return None
    offered = {tool.get("name") for tool in sample.tools}
    for call in sample.ground_truth:
        for name in call:
            if name not in offered:
                return f"gold calls '{name}', which is not among the tools"
    try:
        completion = f"<think>gold</think>{render_calls(gold_to_calls(sample.ground_truth), fmt)}"
    except Exception as exc:  # a gold value that cannot be written as a call
        return f"gold does not render as calls ({type(exc).__name__}: {exc})"
    if score(completion, sample.ground_truth, sample.tools, category=sample.category, fmt=fmt) != 1.0:
        return "gold's own calls fail the checker against the tool schema"
    return None


def ast_filter(samples: list[Sample], fmt: str = "python") -> tuple[list[Sample], FilterReport]:
    """Keep the samples whose gold can be satisfied; report the counts and the reasons for the rest."""
    kept: list[Sample] = []
    dropped: list[str] = []
    for sample in samples:
        reason = unsatisfiable_reason(sample, fmt)
        if reason is None:
            kept.append(sample)
        else:
            dropped.append(f"{sample.id}: {reason}")
    return kept, FilterReport(before=len(samples), after=len(kept), dropped=dropped)
