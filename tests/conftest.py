"""Shared test set-up: the environment of stack-notes.md, a local Ray cluster, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Local test clusters only (bound to 127.0.0.1); real clusters keep Ray's token auth on.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO_ROOT / ".cache" / "torch_extensions"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# Settings for a whole training run of a few seconds a step on 2 cores (subprocess tests add
# train.steps and their own runs_dir): a 0.2M model (hidden 64) on the first 2,000 training
# samples, 4 prompts x G=4, short completions, a tiny warm start.
SMALL_RUN = [
    "model.tiny_hidden_size=64",
    "model.tiny_num_heads=2",
    "model.tiny_num_kv_heads=1",
    "data.train_limit=2000",
    "rollout.threads=1",  # one thread per role, as on Ray's defaults: some tests run async mode
    "learner.threads=1",
    "train.prompts_per_step=4",
    "rollout.group_size=4",
    "rollout.max_new_tokens=24",
    "learner.micro_batch_size=8",
    "model.warm_start_sft_steps=2",
    "train.eval_limit=8",
    "train.checkpoint_every=1",
    "cluster.num_cpus=2",
]


def kill_actor(actor, no_restart: bool = True, timeout_s: float = 60.0) -> None:
    """``ray.kill`` the actor, then wait until it is really gone: ``ray.kill`` is asynchronous, and a
    test that uses the pool right away could otherwise race the kill."""
    import time

    import ray

    ray.kill(actor, no_restart=no_restart)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_call__.remote(lambda _self: None), timeout=10)
        except ray.exceptions.RayActorError:
            return
        except ray.exceptions.GetTimeoutError:
            continue
        time.sleep(0.05)
    raise AssertionError(f"actor {actor} still answers {timeout_s:.0f} s after ray.kill")


@pytest.fixture
def console(capsys):
    """The lines the product's console voice (``common.console.say``) printed so far:
    ``console(prefix)`` lists those starting with ``prefix``."""
    said: list[str] = []

    def lines(prefix: str = "") -> list[str]:
        said.extend(capsys.readouterr().out.splitlines())
        return [line for line in said if line.startswith(prefix)]

    return lines


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none is present on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs, 127.0.0.1) shared by every test that needs Ray."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env={"env_vars": {k: os.environ[k] for k in _ACTOR_ENV if k in os.environ}},
            log_to_driver=False,
        )
    yield ray
    ray.shutdown()


_ACTOR_ENV = (
    "RAY_AUTH_MODE",
    "HF_HUB_OFFLINE",
    "VLLM_ENABLE_V1_MULTIPROCESSING",
    "TORCH_EXTENSIONS_DIR",
    "TOKENIZERS_PARALLELISM",
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2 model with untied embeddings (the default built in code)."""
    from cluster.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-untied"), tie_word_embeddings=False)


@pytest.fixture(scope="session")
def tiny_tied_model_dir(tmp_path_factory) -> Path:
    """The same tiny model with tied input/output embeddings (the vLLM reload trap)."""
    from cluster.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-tied"), tie_word_embeddings=True)
