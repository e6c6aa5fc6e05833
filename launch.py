"""egpo command line: train (the default), eval, scale. ``egpo`` (the installed console script)
and ``python launch.py`` are the same command.

    python launch.py                                  # train the embedded default (configs/tiny.yaml)
    python launch.py train --config tiny algorithm.entropy_coef=0   # plain GRPO
    python launch.py train --resume runs/<name>       # continue from the last checkpoint
    python launch.py eval --model runs/<name>/final --bfcl simple_python --limit 100
    python launch.py scale --workers 3 --run <name>

This file only turns flags into a validated config and hands it to ``cluster``.
"""

from __future__ import annotations

import argparse
import sys

COMMANDS = ("train", "eval", "scale", "plan")


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="run EGPO training (the default command)",
        description="Train a policy with EGPO on a Ray cluster. Settings come from a YAML preset "
        "(--config) overridden by section.field=value arguments; the resolved config is saved in "
        "runs/<name>/config.yaml. Bad settings fail before any work starts.",
        epilog="examples: python launch.py train algorithm.entropy_coef=0 (plain GRPO); "
        "python launch.py train --config smollm2-cpu train.steps=5",
    )
    p.add_argument(
        "--config", default="tiny", help="preset name under configs/ or a YAML path (default: tiny)"
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue runs/<name> from its last checkpoint")
    p.add_argument("overrides", nargs="*", metavar="section.field=value", help="config overrides")


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model on BFCL categories or the validation split",
        description="Generate with the rollout actors and score with the strict checker; writes "
        "per-category accuracy and every output to runs/<name>/eval/.",
    )
    p.add_argument(
        "--model",
        help="local Hugging Face model directory, checkpoint or run directory (its newest checkpoint), "
        "'tiny' or 'smollm2-135m-instruct' (default: the preset's model.path)",
    )
    p.add_argument("--bfcl", help="comma-separated BFCL categories, or all-single-turn, or all-multi-turn")
    p.add_argument("--data", choices=["val"], help="evaluate on the run config's validation split instead")
    p.add_argument("--limit", type=int, help="questions per category (the first N, in file order)")
    p.add_argument("--name", help="output folder runs/<name>/eval/ (default: eval-<model>-<time>)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    p.add_argument("--max-new-tokens", type=int, help="completion cap (default: rollout.max_new_tokens)")
    p.add_argument(
        "--samples",
        type=int,
        default=0,
        metavar="K",
        help="also sample each single-turn question K times at rollout.temperature and report pass@K "
        "(at least one right) and mean@K: what sampling finds that the answer above misses, the "
        "room RL has to turn into greedy answers (default 0: off)",
    )
    p.add_argument(
        "--format",
        choices=["python", "native"],
        default="python",
        help="python: the paper's think template (default); native: the model's own chat/tool format",
    )
    p.add_argument(
        "--cross-check",
        action="store_true",
        help="also score every output with bfcl-eval's own checker (ast_checker; multi_turn_checker); report agreement",
    )
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        help="compare two earlier evaluations (runs/<a>/eval runs/<b>/eval) side by side",
    )
    p.add_argument("--config", default="tiny", help="preset for rollout settings (default: tiny)")
    p.add_argument("overrides", nargs="*", metavar="section.field=value", help="config overrides")


def _scale_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scale",
        help="grow or shrink the rollout pool of a running training run",
        description="Set the target number of rollout workers of a running run.",
    )
    p.add_argument("--workers", type=int, required=True, help="target number of rollout workers")
    p.add_argument("--run", help="run name (default: the only run on the cluster)")
    p.add_argument("--address", default="auto", help="Ray cluster address (default: auto)")


def _plan_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="print the memory each role needs against what it has; exit 2 if it does not fit",
        description="The memory plan of a config (cluster/roles/memory_plan.py), without starting anything.",
    )
    p.add_argument(
        "--config", default="tiny", help="preset name under configs/ or a YAML path (default: tiny)"
    )
    p.add_argument("overrides", nargs="*", metavar="section.field=value", help="config overrides")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="EGPO: entropy-guided GRPO for reliable function calling, on Ray + vLLM + DeepSpeed. "
        "With no command, 'train' runs the embedded default.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,eval,scale,plan}")
    _train_parser(sub)
    _eval_parser(sub)
    _scale_parser(sub)
    _plan_parser(sub)
    return parser


def _not_built(what: str) -> int:
    print(f"launch.py: '{what}' is not available in this version yet.", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "train")
    args = build_parser().parse_args(argv)

    from cluster.config import ConfigError, load_config

    try:
        if args.command == "train":
            if args.resume:
                from cluster.rundir import resume_config

                config = resume_config(args.resume, args.overrides)
            else:
                config = load_config(args.config, args.overrides)
        elif args.command in ("eval", "plan"):
            config = load_config(args.config, args.overrides)
        else:
            config = None
    except ConfigError as exc:
        print(f"launch.py: {exc}", file=sys.stderr)
        return 2

    if args.command == "train":
        try:
            from cluster.run import train
        except ImportError:
            return _not_built("train")
        return train(config, resume=args.resume)
    if args.command == "plan":
        from cluster.roles.memory_plan import plan_command

        return plan_command(config)
    if args.command == "eval":
        try:
            from cluster.eval.command import eval_command
        except ImportError:
            return _not_built("eval")
        return eval_command(config, args)
    try:
        from cluster.roles.scale import scale_command
    except ImportError:
        return _not_built("scale")
    return scale_command(args)


def console() -> None:
    """The ``egpo`` console script (pyproject's [project.scripts])."""
    sys.exit(main())


if __name__ == "__main__":
    console()
