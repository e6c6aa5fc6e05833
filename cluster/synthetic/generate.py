"""The generator of the bundled synthetic function-calling data (``data/train.jsonl.gz``, ``data/val.jsonl``).

Categories: ``simple`` (the one tool offered), ``multiple`` (the right tool among 2-4),
``parallel`` (one function twice), ``parallel_multiple`` (two functions), ``irrelevance`` (no
offered tool fits) and ``missing_param`` (a required argument is not stated; the model must not
call). The validation file draws its argument values, request templates, connectors and
openers from held-out parts of every pool, so none of its phrasings or values occur in training.

Validation holds out phrasings and combinations: its request templates, connectors and opener,
and its tool sets (a set of two or more functions is validation's when the CRC-32 of its sorted
names is 3 modulo 4) never occur in training. Its argument values are drawn from the training
side of every pool, so a value may also occur in training, in another request. A second slice of
validation, ``unseen_values``, draws its values from the held-out side of the pools
(``pools.is_held_out``): none of them occurs in training, so it shows whether the model copies
values from the request or recalls them. Training requests carry 0-2 filler words (``FILLERS``)
between their template's words; validation's carry none. ``--dropped-slot-share`` writes a
share of the training split's missing-parameter requests as a call template with one required value
dropped (the shipped files use none); validation's keep their held-out missing-parameter templates.

``python -m cluster.synthetic --seed 0 --out data/`` writes the shipped files; the same seed and
sizes give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from cluster.data.sample import Sample
from cluster.synthetic.families import FAMILY_OF, FUNCTIONS, Function, slots
from cluster.synthetic.generated import generated_tools, join_words, look_alikes
from cluster.synthetic.pools import POOLS
from reward import gold_to_calls, render_calls

CATEGORY_WEIGHTS: dict[str, float] = {
    "simple": 0.2,
    "multiple": 0.3,
    "parallel": 0.1,
    "parallel_multiple": 0.1,
    "irrelevance": 0.15,
    "missing_param": 0.15,
}
# Openers and joins of two requests; the last of each list is held out for validation. Half the
# requests of either split have no opener: a plain request is no phrasing to hold out, and a
# validation split whose every request opened with the one held-out phrase would test that prefix.
OPENERS = ("Hi! ", "Please help: ", "Hey, ", "Quick question: ")
CONNECTORS = ("{a} Also, {b}", "{a} And {b}", "{a} Then {b}", "{a} Plus: {b}", "Two things. {a} {b}")
LOWERCASE_SECOND = ("{a} Also, {b}", "{a} And {b}", "{a} Then {b}")
# Words slipped between a training request's own (0-2 a request, half the requests none; never in
# validation). Without them a model built from scratch keys on whole training templates: on
# validation's unseen phrasings it named the wrong topic or abstained on half the call prompts.
FILLERS = (
    "just", "really", "kindly", "quickly", "maybe", "actually", "basically", "honestly", "perhaps",
    "simply", "right away", "if you can", "for me", "by the way", "thanks", "I think", "you know",
    "um", "well", "okay", "exactly", "soon", "again", "once more", "if possible", "real quick",
    "as usual", "this time", "no rush", "asap",
)  # fmt: skip
FILLER_COUNTS = (0, 0, 0, 0, 0, 1, 1, 1, 2, 2)  # drawn uniformly: none half the time
# ``--dropped-slot-share``: what a dropped slot takes with it, up to two words that introduce it and
# a unit that follows it.
DROPPED_SLOT = (
    r"(?:\b(?:in|for|from|to|on|at|of|about|into|over|by|against|with|and|the)\s+){0,2}"
    r'"?\{%s\}"?(?:[- ](?:days?|nights?|minutes?|guests?|people)\b)?'
)
NO_CALL_IRRELEVANT = "None of the given functions can do that."
DEFAULT_SIZES = {"train": 30000, "val": 300, "unseen": 100}
# The tools of the shipped files: 16 of the 40, from 13 families. A model built from scratch on 2
# CPU cores learns these well enough in its warm start to leave RL a reward on call prompts
# (README, "What the default run does"); ``--functions all`` writes tasks over every tool.
SHIPPED_FUNCTIONS: tuple[Function, ...] = tuple(
    f
    for f in FUNCTIONS
    if f.name
    in {
        "book_hotel", "compute_power", "convert_currency", "define_word", "get_exchange_rate",
        "get_forecast", "get_local_time", "get_stock_price", "get_visa_rules", "get_weather",
        "log_workout", "play_song", "send_email", "set_timer", "translate_text", "turn_on_lights",
    }
)  # fmt: skip
GENERATED_PER_TASK = 5  # generated tools drawn for one task: the pool its offered tools come from
UNSEEN_VALUES = "unseen_values"  # the slice of validation whose argument values never occur in training
# Longer references are redrawn: 220 characters stay under ~90 tokens of the tiny tokenizer, inside
# the tiny preset's rollout.max_new_tokens=96 (a completion cut short scores 0).
MAX_REFERENCE_CHARS = 220


def family_of(function: Function) -> str:
    """A hand-written tool's family; a generated tool's subject (its ``topic``)."""
    return FAMILY_OF.get(function.name, function.topic)


def spoken(value: Any) -> str:
    """A value as a request states it: a list as ``3, 5 and 7``."""
    return join_words([str(v) for v in value]) if isinstance(value, list) else str(value)


def held_out(options: tuple[Any, ...] | list[Any], split: str) -> list[Any]:
    """All but the last option for ``train``; only the last for ``val`` (when there are two or more)."""
    if len(options) < 2:
        return list(options)
    return list(options[:-1]) if split == "train" else [options[-1]]


def without_a_required_slot(rng: random.Random, function: Function, template: str) -> str | None:
    """A call template with one of its required slots dropped, with the words that introduce it
    and the unit that follows it: ``What's the weather in {city}?`` -> ``What's the weather?``.
    None when the template states no required value."""
    required = [name for name in slots(template) if function.param(name).required]
    if not required:
        return None
    text = re.sub(DROPPED_SLOT % rng.choice(required), "", template, count=1)
    text = re.sub(r"\s+([?.,;:!])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    return re.sub(r"([,;:])([?.!,])", r"\2", text)


def held_out_tools(names: list[str]) -> bool:
    """Whether a set of two or more functions is validation's (CRC-32 of the sorted names is 3 mod 4)."""
    return len(set(names)) > 1 and zlib.crc32("|".join(sorted(set(names))).encode()) % 4 == 3


class TaskWriter:
    """Writes the requests, golds and reference completions of one split from a seeded RNG.

    ``split`` ("train" or "val") picks the phrasings and tool sets; ``values`` picks the side of
    the value pools ("train": values training uses; "val": held out, never in training).
    ``look_alike_share``: the share of multiple and irrelevance tasks whose other offered tools
    look like the one the request needs (:func:`~cluster.synthetic.generated.look_alikes`: its
    parameters under another subject) instead of being drawn from the rest. In both categories,
    so that a set of tools with one parameter shape is no cue to abstain.
    """

    def __init__(
        self,
        rng: random.Random,
        split: str,
        values: str = "train",
        functions: tuple[Function, ...] = FUNCTIONS,
        look_alike_share: float = 0.0,
        dropped_slot_share: float = 0.0,
    ):
        self.rng = rng
        self.split = split
        self.values = values
        self.functions = functions
        self.look_alike_share = look_alike_share
        self.dropped_slot_share = dropped_slot_share

    # --- requests ---------------------------------------------------------------------------
    def value(self, function: Function, param_name: str, avoid: tuple[Any, ...] = ()) -> Any:
        param = function.param(param_name)
        if param.type == "boolean":
            return True
        for _ in range(20):
            if param.enum:
                value = self.rng.choice(param.enum)
            else:
                value = POOLS[param.pool].draw(self.rng, self.values)
            if value not in avoid:
                break
        return value

    def fill(self, function: Function, template: str) -> tuple[str, dict[str, Any]]:
        """The request text and the stated arguments (distinct values for same-pool slots)."""
        stated: dict[str, Any] = {}
        template = self.filled_with_fillers(template)
        for name in slots(template):
            stated[name] = self.value(function, name, avoid=tuple(stated.values()))
        text = template
        for name, value in stated.items():
            param = function.param(name)
            shown = param.phrase if param.type == "boolean" else spoken(value)
            text = text.replace("{" + name + "}", shown)
        return text, stated

    def filled_with_fillers(self, template: str) -> str:
        """Training's template with 0-2 filler words between its words; validation's as it is."""
        if self.split == "val":
            return template
        words = template.split(" ")
        for _ in range(self.rng.choice(FILLER_COUNTS)):
            if len(words) > 1:
                words.insert(self.rng.randrange(1, len(words)), self.rng.choice(FILLERS))
        return " ".join(words)

    def request(self, function: Function) -> tuple[str, dict[str, Any]]:
        template = self.rng.choice(held_out(function.templates, self.split))
        return self.fill(function, template)

    def opener(self, text: str) -> str:
        phrases = held_out(OPENERS, self.split)
        opener = self.rng.choice([""] * len(phrases) + phrases)
        if opener.endswith(", ") and not text.startswith(("I ", "I'")):
            text = text[0].lower() + text[1:]
        return opener + text

    def join(self, first: str, second: str) -> str:
        connector = self.rng.choice(held_out(CONNECTORS, self.split))
        if connector in LOWERCASE_SECOND and not second.startswith(("I ", "I'")):
            second = second[0].lower() + second[1:]
        return connector.format(a=first, b=second)

    # --- golds and references -----------------------------------------------------------------
    @staticmethod
    def gold(function: Function, stated: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
        """BFCL possible answer of one call: stated values, optional unstated ones may be omitted."""
        params: dict[str, list[Any]] = {}
        for param in function.params:
            if param.name in stated:
                params[param.name] = [stated[param.name]]
            elif not param.required:
                params[param.name] = ["", param.default] if param.default is not None else [""]
        return {function.name: params}

    @staticmethod
    def call_reference(topics: list[str], names: list[str], ground_truth: list[dict[str, Any]]) -> str:
        if len(names) == 2 and names[0] == names[1]:
            think = f"The user wants {topics[0]} twice. {names[0]} fits."
        elif len(names) == 2:
            think = f"The user wants {topics[0]} and {topics[1]}. {names[0]} and {names[1]} fit."
        else:
            think = f"The user wants {topics[0]}. {names[0]} fits."
        return f"<think>{think}</think>{render_calls(gold_to_calls(ground_truth), 'python')}"

    # --- tool sets ----------------------------------------------------------------------------
    def distractors(self, chosen: list[Function], count: int, other_families: bool = False) -> list[Function]:
        taken = {f.name for f in chosen}
        families = {family_of(f) for f in chosen}
        pool = [
            f
            for f in self.functions
            if f.name not in taken and not (other_families and family_of(f) in families)
        ]
        return self.rng.sample(pool, count)

    def others(self, function: Function, other_families: bool = False) -> list[Function]:
        """1-2 tools offered beside ``function`` (on irrelevance, instead of it): in
        ``look_alike_share`` of the tasks, look-alikes of it; else distractors."""
        if self.look_alike_share and self.rng.random() < self.look_alike_share:
            return look_alikes(self.rng, function, self.rng.randint(1, 2), self.split)
        return self.distractors([function], self.rng.randint(1, 2), other_families)

    def toolset(self, functions: list[Function]) -> list[dict[str, Any]]:
        shuffled = list(functions)
        self.rng.shuffle(shuffled)
        return [f.doc() for f in shuffled]

    # --- one task per category ----------------------------------------------------------------
    def task(self, category: str) -> dict[str, Any]:
        function = self.rng.choice(self.functions)
        if category in ("simple", "multiple"):
            text, stated = self.request(function)
            extra = [] if category == "simple" else self.others(function)
            gt = [self.gold(function, stated)]
            return self._record(
                text, [function, *extra], gt, self.call_reference([function.topic], [function.name], gt)
            )
        if category == "parallel":
            first, stated_a = self.request(function)
            second, stated_b = self.request(function)
            for _ in range(10):
                if stated_b != stated_a:
                    break
                second, stated_b = self.request(function)
            extra = self.distractors([function], self.rng.randint(0, 1))
            gt = [self.gold(function, stated_a), self.gold(function, stated_b)]
            ref = self.call_reference([function.topic] * 2, [function.name] * 2, gt)
            return self._record(self.join(first, second), [function, *extra], gt, ref)
        if category == "parallel_multiple":
            other = self.rng.choice([f for f in self.functions if f.name != function.name])
            first, stated_a = self.request(function)
            second, stated_b = self.request(other)
            extra = self.distractors([function, other], self.rng.randint(0, 1))
            gt = [self.gold(function, stated_a), self.gold(other, stated_b)]
            ref = self.call_reference([function.topic, other.topic], [function.name, other.name], gt)
            return self._record(self.join(first, second), [function, other, *extra], gt, ref)
        if category == "irrelevance":
            text, _ = self.request(function)
            offered = self.others(function, other_families=True)
            think = f"The user wants {function.topic}. No given function does that."
            return self._record(text, offered, [], f"<think>{think}</think>{NO_CALL_IRRELEVANT}")
        if category == "missing_param":
            return self.missing_task(function)
        raise ValueError(f"unknown category {category!r}")

    def missing_task(self, function: Function) -> dict[str, Any]:
        template = None
        if self.dropped_slot_share and self.rng.random() < self.dropped_slot_share:
            call_template = self.rng.choice(held_out(function.templates, self.split))
            template = without_a_required_slot(self.rng, function, call_template)
        template = template or self.rng.choice(held_out(function.missing, self.split))
        text, _ = self.fill(function, template)
        absent = [p.name for p in function.params if p.required and p.name not in slots(template)]
        names = " and ".join(absent)
        think = f"The user wants {function.topic}, but the required {names} is not given."
        answer = f"Please tell me the {names} so I can call {function.name}."
        extra = self.distractors([function], self.rng.randint(0, 1))
        return self._record(text, [function, *extra], [], f"<think>{think}</think>{answer}")

    def _record(
        self, text: str, functions: list[Function], ground_truth: list[dict[str, Any]], reference: str
    ) -> dict[str, Any]:
        return {
            "messages": [{"role": "user", "content": self.opener(text)}],
            "tools": self.toolset(functions),
            "ground_truth": ground_truth,
            "reference": reference,
        }


def generate_split(
    split: str,
    count: int,
    seed: int,
    values: str = "train",
    functions: tuple[Function, ...] | None = None,
    generated_share: float = 0.0,
    category_weights: dict[str, float] | None = None,
    look_alike_share: float = 0.0,
    dropped_slot_share: float = 0.0,
) -> list[Sample]:
    """``count`` distinct samples of ``split`` ("train" or "val"), categories drawn by
    ``CATEGORY_WEIGHTS``. ``values`` is the side of the value pools: "train" (the default, for
    both splits) or "val", the held-out values of the unseen-values slice. ``functions``: the
    tools to write tasks for (default :data:`SHIPPED_FUNCTIONS`). ``generated_share``: the share
    of tasks written over fresh generated tools (:mod:`cluster.synthetic.generated`) instead.
    ``category_weights``: the mix of categories (default ``CATEGORY_WEIGHTS``).
    ``look_alike_share``: the share of multiple and irrelevance tasks offered look-alike tools
    (default none)."""
    unseen = split == "val" and values == "val"
    rng = random.Random(f"egpo-synthetic-{seed}-{split}" + ("-unseen" if unseen else ""))
    functions = functions or SHIPPED_FUNCTIONS
    writer = TaskWriter(rng, split, values, functions, look_alike_share, dropped_slot_share)
    mix = category_weights or CATEGORY_WEIGHTS
    categories, weights = list(mix), list(mix.values())
    samples: list[Sample] = []
    seen: set[str] = set()
    attempts = 0
    while len(samples) < count:
        attempts += 1
        if attempts > 50 * count:
            raise RuntimeError(f"could not write {count} distinct {split} samples; the pools are too small")
        category = rng.choices(categories, weights)[0]
        if generated_share:  # a fresh set of made-up tools, or the hand-written ones
            use_generated = rng.random() < generated_share
            writer.functions = (
                tuple(generated_tools(rng, GENERATED_PER_TASK, split)) if use_generated else functions
            )
        record = writer.task(category)
        for _ in range(100):  # a held-out tool set: redraw in the same category
            if _tools_fit_split(record, split):
                break
            record = writer.task(category)
        else:  # no set of these (generated) tools is this split's: draw others
            continue
        key = json.dumps([record["messages"], record["tools"]], sort_keys=True)
        if key in seen or len(record["reference"]) > MAX_REFERENCE_CHARS:
            continue
        seen.add(key)
        prefix = f"{split}-unseen" if unseen else split
        samples.append(
            Sample(
                id=f"{prefix}-{len(samples):05d}",
                category=category,
                slice=UNSEEN_VALUES if unseen else None,
                **record,
            )
        )
    return samples


def _tools_fit_split(record: dict[str, Any], split: str) -> bool:
    names = [tool["name"] for tool in record["tools"]]
    return len(names) < 2 or held_out_tools(names) == (split == "val")


def write_jsonl(samples: list[Sample], path: Path) -> None:
    """One sample per line in the ``egpo`` format (stable key order, UTF-8, newline-terminated);
    gzip-compressed when ``path`` ends in ``.gz``, with no timestamp, so the bytes are reproducible."""
    lines = [json.dumps(sample.model_dump(exclude_none=True), ensure_ascii=False) for sample in samples]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if path.suffix == ".gz":
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
            out.write(data)
    else:
        path.write_bytes(data)


def category_counts(samples: list[Sample]) -> dict[str, int]:
    counts = Counter(sample.category for sample in samples)
    return {category: counts[category] for category in CATEGORY_WEIGHTS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cluster.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="generator seed (the shipped files use 0)")
    parser.add_argument("--out", type=Path, default=Path("data"), help="output folder")
    parser.add_argument("--train", type=int, default=DEFAULT_SIZES["train"], help="training samples")
    parser.add_argument("--val", type=int, default=DEFAULT_SIZES["val"], help="validation samples")
    parser.add_argument(
        "--unseen",
        type=int,
        default=DEFAULT_SIZES["unseen"],
        help="validation samples whose argument values never occur in training (appended to val.jsonl)",
    )
    parser.add_argument(
        "--functions",
        default="shipped",
        help="'shipped' (the 16 tools of the bundled files), 'all' (all 40) or comma-separated names",
    )
    parser.add_argument(
        "--generated-share",
        type=float,
        default=0.0,
        help="share of tasks over fresh made-up tools (cluster/synthetic/generated.py); default 0",
    )
    parser.add_argument(
        "--category-weights",
        type=str,
        default=None,
        help="the training split's category mix, e.g. 'missing_param=0.05,irrelevance=0.1' (others keep "
        "their default weight; weights are relative); validation keeps the default mix, so the effect shows",
    )
    parser.add_argument(
        "--look-alike-share",
        type=float,
        default=0.0,
        help="share of the training split's multiple and irrelevance tasks whose other tools take the "
        "needed tool's parameters under another subject (matching names or arguments misleads); "
        "default 0, validation keeps 0",
    )
    parser.add_argument(
        "--dropped-slot-share",
        type=float,
        default=0.0,
        help="share of the training split's missing-parameter requests written as one of its call "
        "templates with a required value dropped (the rest use the missing-parameter templates), so "
        "the same phrasing asks for a call or for the value; default 0, validation keeps 0",
    )
    args = parser.parse_args(argv)
    weights = _category_weights(args.category_weights, parser) if args.category_weights else None
    for flag in ("--generated-share", "--dropped-slot-share", "--look-alike-share"):
        value = getattr(args, flag[2:].replace("-", "_"))
        if not 0.0 <= value <= 1.0:
            parser.error(f"{flag} {value}: expected a share between 0 and 1")
    functions = _functions(args.functions, parser)
    args.out.mkdir(parents=True, exist_ok=True)
    share = args.generated_share
    splits = {
        "train.jsonl.gz": generate_split(
            "train",
            args.train,
            args.seed,
            functions=functions,
            generated_share=share,
            category_weights=weights,
            look_alike_share=args.look_alike_share,
            dropped_slot_share=args.dropped_slot_share,
        ),
        "val.jsonl": generate_split("val", args.val, args.seed, functions=functions, generated_share=share)
        + generate_split(
            "val", args.unseen, args.seed, values="val", functions=functions, generated_share=share
        ),
    }
    for name, samples in splits.items():
        path = args.out / name
        write_jsonl(samples, path)
        print(f"wrote {len(samples)} samples to {path}: {category_counts(samples)}")


def _category_weights(spec: str, parser: argparse.ArgumentParser) -> dict[str, float]:
    weights = dict(CATEGORY_WEIGHTS)
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if name not in CATEGORY_WEIGHTS:
            parser.error(
                f"--category-weights: unknown category {name!r}; expected {', '.join(CATEGORY_WEIGHTS)}"
            )
        try:
            weights[name] = float(value)
        except ValueError:
            parser.error(f"--category-weights: {part!r} is not category=weight")
        if weights[name] < 0:
            parser.error(f"--category-weights: {part!r}: weights are >= 0")
    if not any(weights.values()):
        parser.error("--category-weights: at least one category needs a positive weight")
    return weights


def _functions(spec: str, parser: argparse.ArgumentParser) -> tuple[Function, ...]:
    if spec == "shipped":
        return SHIPPED_FUNCTIONS
    if spec == "all":
        return FUNCTIONS
    by_name = {f.name: f for f in FUNCTIONS}
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown or len(names) < 4:
        parser.error(
            f"--functions {spec!r}: expected 'shipped', 'all' or at least 4 of {sorted(by_name)}"
            + (f"; unknown: {unknown}" if unknown else "")
        )
    return tuple(by_name[n] for n in names)
