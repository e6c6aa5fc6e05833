"""Shared test set-up: the environment of stack-notes.md, a local Ray cluster, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.support")  # before the helpers are first imported

from tests.support.runs import REPO_ROOT  # noqa: E402

# Local test clusters only (bound to 127.0.0.1); real clusters keep Ray's token auth on.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO_ROOT / ".cache" / "torch_extensions"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
