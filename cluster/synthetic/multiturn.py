"""Multi-turn tasks over our own environments (``envs.files``, ``envs.cart``), with a held-out validation split.

A task is one sample in the BFCL multi-turn entry shape (``envs.stateful``): ``id``, ``env``,
``involved_classes``, ``initial_config``, ``question`` (2-4 requests, one more turn on miss
tasks; ``[]`` is a turn that only reveals held-back functions), ``ground_truth`` (call strings
per turn; ``[]`` when the model must not call), ``missed_function`` (``{turn: [names]}``),
``category`` and ``reference`` (per turn, a correct first model step in the paper's format:
``<think>...</think>[calls]`` or ``<think>...</think>text``). Later turns depend on earlier ones (a folder made in turn 1 is
listed in turn 2; the cart filled in turn 1 is checked out in turn 3): each turn is planned from
the state the ground truth of the turns before it leaves, played on the environment itself.

Categories, as BFCL's: ``multi_turn_base``; ``multi_turn_miss_param`` (one turn leaves out a
required value: the model asks, no call; the next turn gives it and the calls follow);
``multi_turn_miss_func`` (one turn needs a function not offered yet: the model says it cannot, no
call; the next turn, ``[]``, reveals the function and its calls follow).

Validation holds out phrasings: every request, missing-value and supply kind has its last
phrasing kept for validation (``generate.held_out``), so no validation phrasing occurs in
training. A request kind has eight phrasings, seven of them training's, whose words cover
validation's: with four (three for training) the tiny model, after a 1,500-step warm start on these
tasks mixed with the single-turn set, picked the right functions for 40% of validation's call
steps, with eight 60% (greedy, first 60 tasks). Its values (names, texts, products, addresses)
come from the training pools; a second
slice, ``unseen_values`` (``"slice"`` on each task), draws them from held-out pools, none of
which occurs in training. ``python -m cluster.synthetic.multiturn --seed 0 --out data/`` writes
``multiturn_train.jsonl.gz`` and ``multiturn_val.jsonl``; the same seed and sizes give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.synthetic.generate import held_out
from envs import make
from envs.executor import ERROR_PREFIX
from envs.stateful import StatefulEnv, ground_truth_calls, replay_ground_truth

CATEGORIES = ("multi_turn_base", "multi_turn_miss_param", "multi_turn_miss_func")
ENVS = ("files", "cart")
DEFAULT_SIZES = {"train": 2000, "val": 200, "unseen": 100}


@dataclass(frozen=True)
class Pools:
    """The values tasks draw: names, texts, products (price in cents) and addresses."""

    folders: tuple[str, ...]
    files: tuple[str, ...]
    contents: tuple[str, ...]
    products: dict[str, int]
    addresses: tuple[str, ...]


# "train": what training and the main validation draw; "held_out": only the unseen_values slice.
POOLS = {
    "train": Pools(
        folders=(
            "reports", "archive", "drafts", "photos", "music", "taxes", "recipes", "projects",
            "backup", "school", "invoices", "travel",
        ),
        files=(
            "notes.txt", "todo.md", "budget.csv", "letter.txt", "ideas.md", "log.txt", "plan.txt",
            "summary.md", "draft.txt", "list.csv", "minutes.txt", "readme.md",
        ),
        contents=(
            "buy milk", "call Sam at five", "rent is due Friday", "meeting moved to Monday",
            "pack the tent", "water the plants", "book the dentist", "send the slides",
            "renew the passport", "pay the gas bill",
        ),
        products={
            "apple": 125, "banana": 45, "bread": 350, "coffee": 899, "eggs": 420, "milk": 199,
            "rice": 275, "soap": 150, "tea": 560, "pasta": 230, "cheese": 640, "honey": 710,
        },
        addresses=(
            "12 Oak Street", "4 Harbour Road", "77 Elm Avenue", "9 Mill Lane", "150 King Street",
            "3 Birch Close", "21 Station Road", "8 Park Row",
        ),
    ),
    "held_out": Pools(
        folders=("garden", "letters", "receipts", "videos", "clients"),
        files=("agenda.txt", "memo.md", "prices.csv", "diary.txt", "goals.md", "contacts.csv"),
        contents=("fix the bike", "order more paper", "feed the cat", "return the library books", "buy a birthday card"),
        products={"yogurt": 310, "butter": 480, "oats": 260, "jam": 390, "salt": 99, "lemons": 180, "flour": 220},
        addresses=("5 Cedar Way", "40 River Street", "18 Hill Road"),
    ),
}  # fmt: skip
UNSEEN_VALUES = "unseen_values"  # the validation slice whose values never occur in training
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


Calls = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Kind:
    """One kind of user request: its phrasings and a plan from the current state to slots and calls.

    ``plan`` returns ``None`` when the request does not fit the state (no file to read, an empty
    cart). ``absent`` names the slot a missing-value phrasing leaves out (``missing``); ``supply``
    phrasings give it in the next turn; ``ask`` is what the model asks for it.
    """

    name: str
    env: str
    topic: str
    phrasings: tuple[str, ...]
    plan: Callable[[random.Random, Any, Pools], tuple[dict[str, str], Calls] | None]
    absent: str = ""
    missing: tuple[str, ...] = ()
    supply: tuple[str, ...] = ()
    ask: str = ""


# ----------------------------------------------------------------------------- files


def _here(fs: Any) -> tuple[list[str], list[str]]:
    folder = fs._folder()
    files = sorted(n for n, v in folder.items() if not isinstance(v, dict))
    dirs = sorted(n for n, v in folder.items() if isinstance(v, dict))
    return files, dirs


def _new_name(rng: random.Random, pool: tuple[str, ...], taken: list[str]) -> str | None:
    free = [name for name in pool if name not in taken]
    return rng.choice(free) if free else None


def plan_mkdir_mv(rng, fs, pools):
    files, dirs = _here(fs)
    folder = _new_name(rng, pools.folders, files + dirs)
    if not files or folder is None:
        return None
    file = rng.choice(files)
    return {"folder": folder, "file": file}, [
        ("mkdir", {"name": folder}),
        ("mv", {"source": file, "destination": folder}),
    ]


def plan_cd_ls(rng, fs, pools):
    _, dirs = _here(fs)
    if not dirs:
        return None
    folder = rng.choice(dirs)
    return {"folder": folder}, [("cd", {"folder": folder}), ("ls", {})]


def plan_up_ls(rng, fs, pools):
    if not fs.cwd:
        return None
    return {}, [("cd", {"folder": ".."}), ("ls", {})]


def plan_read(rng, fs, pools):
    files, _ = _here(fs)
    if not files:
        return None
    file = rng.choice(files)
    return {"file": file}, [("read_file", {"name": file})]


def plan_write(rng, fs, pools):
    files, dirs = _here(fs)
    file = _new_name(rng, pools.files, files + dirs)
    if file is None:
        return None
    content = rng.choice(pools.contents)
    return {"file": file, "content": content}, [("write_file", {"name": file, "content": content})]


def plan_rename(rng, fs, pools):
    files, dirs = _here(fs)
    new = _new_name(rng, pools.files, files + dirs)
    if not files or new is None:
        return None
    file = rng.choice(files)
    return {"file": file, "new": new}, [("mv", {"source": file, "destination": new})]


def _file_kinds() -> tuple[Kind, ...]:
    return (
        Kind(
            "mkdir_mv",
            "files",
            "make a folder and move a file into it",
            (
                "Make a folder called {folder}, then move {file} into it.",
                "Create a new folder {folder} and put {file} in there.",
                "I need a {folder} folder with {file} inside it.",
                "Set up a {folder} folder and move {file} there.",
                "Shift {file} into a new folder called {folder}.",
                "Please make a folder named {folder} and move {file} into it.",
                "Add a folder {folder}, then put {file} inside.",
                "Set up a folder named {folder} and shift {file} into it.",
            ),
            plan_mkdir_mv,
            absent="folder",
            missing=(
                "Make a new folder and move {file} into it.",
                "Create a folder for {file} and put it there.",
                "Put {file} into a brand new folder.",
            ),
            supply=("Call the folder {folder}.", "Name it {folder}.", "Use {folder} as the folder name."),
            ask="What should the new folder be called?",
        ),
        Kind(
            "cd_ls",
            "files",
            "open a folder and list what is in it",
            (
                "Go into {folder} and tell me what's in it.",
                "What's inside {folder}?",
                "Open {folder} and list its contents.",
                "Switch to {folder} and list it.",
                "Show me the files in the {folder} folder.",
                "Change into {folder} and show me what's there.",
                "Enter the {folder} folder and list the files.",
                "Switch to the {folder} folder and show me the files there.",
            ),
            plan_cd_ls,
        ),
        Kind(
            "up_ls",
            "files",
            "go up one folder and list it",
            (
                "Go back up one level and list everything.",
                "Head to the parent folder and show me what's there.",
                "Move up a folder and tell me its contents.",
                "Go to the folder above and show me what's there.",
                "Return to the parent folder and list the files.",
                "Step back up and list what's in that folder.",
                "Leave this folder, go up, and list it.",
                "Return to the folder above and list it.",
            ),
            plan_up_ls,
        ),
        Kind(
            "read",
            "files",
            "read a file",
            (
                "What does {file} say?",
                "Show me the contents of {file}.",
                "Read {file} to me.",
                "Open {file} and show me what it says.",
                "What does the file {file} contain?",
                "Tell me what's in {file}.",
                "Print the contents of {file} for me.",
                "Open {file} and tell me what it contains.",
            ),
            plan_read,
        ),
        Kind(
            "write",
            "files",
            "write a new file",
            (
                "Write '{content}' into a new file {file}.",
                "Create {file} containing '{content}'.",
                "Save a file {file} with the text '{content}'.",
                "Put '{content}' in a new file named {file}.",
                "Note down '{content}' in {file}.",
                "Make a file named {file} that says '{content}'.",
                "Jot '{content}' into a new file {file}.",
                "Jot down '{content}' in a file named {file}.",
            ),
            plan_write,
            absent="content",
            missing=(
                "Create a file called {file}.",
                "Make a new file {file} for me.",
                "Start a file named {file}.",
            ),
            supply=("Put '{content}' in it.", "It should say '{content}'.", "Write '{content}' there."),
            ask="What should the file say?",
        ),
        Kind(
            "rename",
            "files",
            "rename a file",
            (
                "Rename {file} to {new}.",
                "Change the name of {file} to {new}.",
                "Call {file} {new} from now on.",
                "Rename the file {file} to {new}, please.",
                "The file {file} needs the new name {new}.",
                "Give the file {file} a new name: {new}.",
                "Change {file} so it is named {new}.",
                "Give {file} the new name {new}.",
            ),
            plan_rename,
            absent="new",
            missing=("Rename {file}, please.", "Give {file} a different name.", "I want {file} renamed."),
            supply=("Make it {new}.", "The new name is {new}.", "Use {new}."),
            ask="What should the new name be?",
        ),
    )


# ----------------------------------------------------------------------------- cart


def _count(rng: random.Random) -> int:
    return rng.randint(1, 4)


def plan_add(rng, cart, pools):
    item = rng.choice(sorted(cart.catalog))
    count = _count(rng)
    return {"item": item, "count": NUMBER_WORDS[count]}, [("add_item", {"item": item, "quantity": count})]


def plan_add_two(rng, cart, pools):
    first, second = rng.sample(sorted(cart.catalog), 2)
    a, b = _count(rng), _count(rng)
    slots = {"item": first, "count": NUMBER_WORDS[a], "item2": second, "count2": NUMBER_WORDS[b]}
    return slots, [
        ("add_item", {"item": first, "quantity": a}),
        ("add_item", {"item": second, "quantity": b}),
    ]


def plan_remove(rng, cart, pools):
    if not cart.cart:
        return None
    item = rng.choice(sorted(cart.cart))
    return {"item": item}, [("remove_item", {"item": item})]


def plan_view(rng, cart, pools):
    return {}, [("view_cart", {})]


def plan_prices(rng, cart, pools):
    return {}, [("list_products", {})]


def plan_checkout(rng, cart, pools):
    if not cart.cart:
        return None
    address = rng.choice(pools.addresses)
    return {"address": address}, [("checkout", {"address": address})]


def _cart_kinds() -> tuple[Kind, ...]:
    return (
        Kind(
            "add",
            "cart",
            "add a product to the cart",
            (
                "Add {count} {item} to my cart.",
                "Put {count} {item} in the cart, please.",
                "I'd like {count} {item} in my basket.",
                "Add {count} {item} into the cart.",
                "Throw {count} {item} in my basket.",
                "Please add {count} {item} to the basket.",
                "Put {count} {item} into my cart.",
                "Throw {count} {item} into the cart.",
            ),
            plan_add,
        ),
        Kind(
            "add_two",
            "cart",
            "add two products to the cart",
            (
                "Add {count} {item} and {count2} {item2} to the cart.",
                "Put {count} {item} plus {count2} {item2} in my cart.",
                "I want {count} {item} and also {count2} {item2}.",
                "Grab {count} {item} and {count2} {item2}.",
                "Add {count} {item} and {count2} {item2} to my basket.",
                "For my cart: {count} {item} and {count2} {item2}.",
                "Put {count} {item} and {count2} {item2} in the basket.",
                "Grab {count} {item} and {count2} {item2} for my basket.",
            ),
            plan_add_two,
        ),
        Kind(
            "remove",
            "cart",
            "take a product out of the cart",
            (
                "Take the {item} out of my cart.",
                "Remove all the {item} from the cart.",
                "I don't want the {item} anymore.",
                "Drop the {item} from my cart.",
                "Remove the {item} from my basket.",
                "Take all the {item} out of the basket.",
                "Please drop the {item}.",
                "Drop the {item} from my basket.",
            ),
            plan_remove,
        ),
        Kind(
            "view",
            "cart",
            "see the cart and its total",
            (
                "What's in my cart now, and what's the total?",
                "Show me my cart.",
                "How much does my cart come to?",
                "Let me see my cart.",
                "Show me the basket and its total.",
                "What is the total of my cart?",
                "I want to see what's in the basket.",
                "Let me see the basket and the total.",
            ),
            plan_view,
        ),
        Kind(
            "prices",
            "cart",
            "see the prices",
            (
                "What do you sell, and at what prices?",
                "Show me the product list with prices.",
                "How much do things cost here?",
                "Give me the prices.",
                "List the products and their prices.",
                "What is on the price list?",
                "Show me what you sell.",
                "Give me the price list.",
            ),
            plan_prices,
        ),
        Kind(
            "checkout",
            "cart",
            "check out",
            (
                "Check out and ship it to {address}.",
                "Place the order; deliver to {address}.",
                "Buy everything in the cart and send it to {address}.",
                "Complete the order and ship it to {address}.",
                "Finish my purchase; send it to {address}.",
                "Check out with delivery to {address}.",
                "Buy it all and deliver it to {address}.",
                "Complete my purchase with delivery to {address}.",
            ),
            plan_checkout,
            absent="address",
            missing=("Check out now, please.", "Go ahead and place the order.", "I'm ready to pay."),
            supply=("Ship it to {address}.", "The address is {address}.", "Deliver to {address}."),
            ask="Which address should I ship the order to?",
        ),
    )


KINDS: dict[str, tuple[Kind, ...]] = {"files": _file_kinds(), "cart": _cart_kinds()}


def initial_config(rng: random.Random, env: str, pools: Pools) -> dict[str, Any]:
    """A small random starting state for ``env``, keyed by its backend class (BFCL's shape)."""
    if env == "files":
        names = rng.sample(pools.files, rng.randint(2, 4))
        root: dict[str, Any] = {name: rng.choice(pools.contents) for name in names}
        for folder in rng.sample(pools.folders, rng.randint(1, 2)):
            inside = rng.choice([n for n in pools.files if n not in names])
            root[folder] = {inside: rng.choice(pools.contents)} if rng.random() < 0.6 else {}
        return {"FileSystem": {"root": root, "cwd": "/"}}
    products = pools.products
    catalog = {item: products[item] for item in sorted(rng.sample(sorted(products), rng.randint(5, 7)))}
    cart = {rng.choice(sorted(catalog)): rng.randint(1, 3)} if rng.random() < 0.5 else {}
    return {"Cart": {"catalog": catalog, "cart": cart, "orders": []}}


# ----------------------------------------------------------------------------- tasks


def call_string(name: str, kwargs: dict[str, Any]) -> str:
    return f"{name}({', '.join(f'{key}={value!r}' for key, value in kwargs.items())})"


def calls_reference(kind: Kind, calls: Calls) -> str:
    names = ", then ".join(name for name, _ in calls)
    strings = ", ".join(call_string(name, kwargs) for name, kwargs in calls)
    return f"<think>The user wants to {kind.topic}. {names}.</think>[{strings}]"


class TaskWriter:
    """Writes the tasks of one split from a seeded RNG: ``split`` picks the phrasings, ``values``
    the side of the value pools ("train", or "held_out" for the unseen_values slice)."""

    def __init__(self, rng: random.Random, split: str, values: str = "train") -> None:
        self.rng = rng
        self.split = split
        self.pools = POOLS[values]

    def phrase(self, options: tuple[str, ...], slots: dict[str, str]) -> str:
        return self.rng.choice(held_out(options, self.split)).format(**slots)

    def task(self, env_name: str, category: str, turns: int) -> dict[str, Any] | None:
        """One task of ``turns`` requests (a miss turn adds one turn); None when the plan got stuck."""
        config = initial_config(self.rng, env_name, self.pools)
        env = make(env_name)
        assert isinstance(env, StatefulEnv)
        env.reset({"initial_config": config})
        kinds = KINDS[env_name]
        miss_at = self.rng.randrange(turns) if category != "multi_turn_base" else -1
        # miss_func: the function held back until the turn after miss_at (unused before it)
        hidden = (
            self.rng.choice(sorted({doc["name"] for doc in env.BACKEND.DOCS}))
            if category == "multi_turn_miss_func"
            else None
        )
        task: dict[str, Any] = {
            "env": env_name,
            "involved_classes": [env.CLASS_NAME],
            "initial_config": config,
            "question": [],
            "ground_truth": [],
            "category": category,
            "reference": [],
        }
        for index in range(turns):
            planned = self.plan(kinds, env, index, miss_at, category, hidden)
            if planned is None:
                return None
            kind, slots, calls = planned
            strings = [call_string(name, kwargs) for name, kwargs in calls]
            text = self.phrase(kind.phrasings, slots)
            if index == miss_at and category == "multi_turn_miss_param":
                missing = "new name" if kind.absent == "new" else f"{kind.absent}"
                think = f"The user wants to {kind.topic}, but the {missing} is not given."
                self.add_turn(task, self.phrase(kind.missing, slots), [], f"<think>{think}</think>{kind.ask}")
                text = self.phrase(kind.supply, slots)
            elif index == miss_at and category == "multi_turn_miss_func":
                think = f"The user wants to {kind.topic}, but no offered function can do that."
                self.add_turn(
                    task, text, [], f"<think>{think}</think>I cannot {kind.topic} with the functions I have."
                )
                task["missed_function"] = {str(len(task["question"])): [hidden]}
                text = ""  # BFCL's reveal turn: no user message, the new functions are shown
            self.add_turn(task, text, strings, calls_reference(kind, calls))
            env.next_turn()
            if any(o.startswith(ERROR_PREFIX) for o in env.step(ground_truth_calls(strings))):
                return None
        return task

    def plan(
        self,
        kinds: tuple[Kind, ...],
        env: StatefulEnv,
        index: int,
        miss_at: int,
        category: str,
        hidden: str | None,
    ) -> tuple[Kind, dict[str, str], Calls] | None:
        """A kind that fits the state, with its slots and calls; None when none fits."""
        options = list(kinds)
        self.rng.shuffle(options)
        for kind in options:
            if index == miss_at and category == "multi_turn_miss_param" and not kind.absent:
                continue
            planned = kind.plan(self.rng, env.backend, self.pools)
            if planned is None:
                continue
            names = {name for name, _ in planned[1]}
            if hidden is not None and index < miss_at and hidden in names:
                continue  # not offered yet
            if hidden is not None and index == miss_at and hidden not in names:
                continue  # the miss turn needs the held-back function
            return kind, *planned
        return None

    @staticmethod
    def add_turn(task: dict[str, Any], text: str, strings: list[str], reference: str) -> None:
        task["question"].append([{"role": "user", "content": text}] if text else [])
        task["ground_truth"].append(strings)
        task["reference"].append(reference)


def generate_split(
    split: str, count: int, seed: int = 0, values: str = "train", requests: tuple[int, int] = (2, 4)
) -> list[dict[str, Any]]:
    """``count`` distinct tasks of ``split`` ("train" or "val"), environments and categories drawn
    uniformly, ``requests`` (least, most) request turns each; the same arguments give the same tasks.
    ``values="held_out"`` (validation only) draws every value from the held-out pools and tags the
    tasks ``unseen_values``."""
    if split not in ("train", "val") or values not in POOLS or (split, values) == ("train", "held_out"):
        raise ValueError(
            f"split {split!r}, values {values!r}: expected train/train, val/train or val/held_out"
        )
    rng = random.Random(f"multiturn-{seed}-{split}-{values}")
    writer = TaskWriter(rng, split, values)
    prefix, extra = (
        (f"mt_{split}", {}) if values == "train" else (f"mt_{split}_unseen", {"slice": UNSEEN_VALUES})
    )
    tasks: list[dict[str, Any]] = []
    seen: set[str] = set()
    attempts = 0
    while len(tasks) < count:
        attempts += 1
        if attempts > 50 * count + 100:
            raise RuntimeError(f"only {len(tasks)} distinct {split} tasks after {attempts} attempts")
        task = writer.task(rng.choice(ENVS), rng.choice(CATEGORIES), rng.randint(*requests))
        if task is None:
            continue
        key = json.dumps(task, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        tasks.append({"id": f"{prefix}_{len(tasks)}", **task, **extra})
    return tasks


def check_task(task: dict[str, Any]) -> None:
    """Raise ValueError unless the task is well formed and its ground truth replays without an error."""
    for key in ("id", "env", "involved_classes", "initial_config", "question", "ground_truth"):
        if key not in task:
            raise ValueError(f"task {task.get('id')!r}: missing {key!r}")
    if len(task["question"]) != len(task["ground_truth"]):
        raise ValueError(
            f"task {task['id']!r}: {len(task['question'])} turns but {len(task['ground_truth'])} answers"
        )
    for turn, replayed in enumerate(replay_ground_truth(task)):
        if replayed.errors:
            raise ValueError(f"task {task['id']!r}, turn {turn}: {replayed.errors[0]}")


def load_tasks(path: str | Path) -> list[dict[str, Any]]:
    """The tasks of a JSONL file (``.gz`` too) this module wrote, each checked by ``check_task``."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    tasks = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            task = json.loads(line)
            if not isinstance(task, dict):
                raise ValueError("not a JSON object")
            check_task(task)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        tasks.append(task)
    return tasks


def phrasing_patterns(split: str) -> list[re.Pattern[str]]:
    """A regex per phrasing ``split`` uses (slots match any text): for the hold-out test."""
    patterns = []
    for kinds in KINDS.values():
        for kind in kinds:
            for options in (kind.phrasings, kind.missing, kind.supply):
                for template in held_out(options, split) if options else []:
                    parts = re.split(r"\{\w+\}", template)
                    patterns.append(re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$"))
    return patterns


def write_jsonl(tasks: list[dict[str, Any]], path: Path) -> None:
    text = "".join(json.dumps(task, ensure_ascii=False) + "\n" for task in tasks).encode()
    if path.suffix == ".gz":
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
            out.write(text)
    else:
        path.write_bytes(text)


def _span(text: str) -> tuple[int, int]:
    least, _, most = text.partition("-")
    try:
        span = int(least), int(most or least)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LEAST-MOST, e.g. 2-4") from None
    if not 1 <= span[0] <= span[1] <= 6:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 <= LEAST <= MOST <= 6")
    return span


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--train", type=int, default=DEFAULT_SIZES["train"], help="training tasks")
    parser.add_argument("--val", type=int, default=DEFAULT_SIZES["val"], help="validation tasks")
    parser.add_argument(
        "--unseen", type=int, default=DEFAULT_SIZES["unseen"], help="unseen_values tasks (in val)"
    )
    parser.add_argument(
        "--requests", type=_span, default=(2, 4), help="least-most user requests per task (default 2-4)"
    )
    parser.add_argument("--stem", default="multiturn", help="file names: STEM_train.jsonl.gz, STEM_val.jsonl")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, count, name in (
        ("train", args.train, f"{args.stem}_train.jsonl.gz"),
        ("val", args.val, f"{args.stem}_val.jsonl"),
    ):
        tasks = generate_split(split, count, args.seed, requests=args.requests)
        if split == "val":
            tasks += generate_split(split, args.unseen, args.seed, values="held_out", requests=args.requests)
        for task in tasks:
            check_task(task)
        write_jsonl(tasks, args.out / name)
        print(f"{args.out / name}: {len(tasks)} tasks")


if __name__ == "__main__":
    main()
