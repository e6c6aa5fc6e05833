"""Ray bring-up: start a local cluster bound to 127.0.0.1, or join an existing one.

Ray 2.60 keeps token authentication on: a local cluster generates its token itself
(saved under ~/.ray), so nothing here turns it off. Tests of local clusters may set
RAY_AUTH_MODE=disabled in their own environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from cluster.config import REPO_ROOT, ClusterConfig

# Settings every actor process needs (stack-notes.md): no hub, the vLLM engine in-process,
# DeepSpeed's one JIT build cached.
ACTOR_ENV_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "TORCH_EXTENSIONS_DIR": str(REPO_ROOT / ".cache" / "torch_extensions"),
    "TOKENIZERS_PARALLELISM": "false",
}
_PASSED_THROUGH = ("RAY_AUTH_MODE", "VLLM_CPU_KVCACHE_SPACE", "OMP_NUM_THREADS", "EGPO_ENV_MODULES")


def actor_env() -> dict[str, str]:
    """Environment variables for actor processes: the defaults, overridden by the driver's own.
    Also set in the driver's own environment where unset, except ``HF_HUB_OFFLINE``."""
    env = {key: os.environ.get(key, value) for key, value in ACTOR_ENV_DEFAULTS.items()}
    env.update({key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ})
    for key, value in env.items():
        if (
            key != "HF_HUB_OFFLINE"
        ):  # the driver may resolve a hub id (cluster.models.resolve); actors never do
            os.environ.setdefault(key, value)
    return env


def token_source() -> str | None:
    """Where this process would find a Ray auth token, Ray's own order: the ``RAY_AUTH_TOKEN``
    variable, the file ``RAY_AUTH_TOKEN_PATH`` names, ``~/.ray/auth_token``; None when none is set."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if named:
        return named if Path(named).expanduser().is_file() else None
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def use_saved_token() -> str | None:
    """Before joining a cluster at an explicit address: turn token auth on when a token is saved here.

    Ray 2.60 does that itself only when it finds the cluster by itself (``address="auto"``); for an
    explicit address it connects without the token and the cluster answers InvalidAuthToken. An
    explicit ``RAY_AUTH_MODE`` is left as it is. Returns where the token is (``token_source``).
    """
    source = token_source()
    if source is not None and "RAY_AUTH_MODE" not in os.environ:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )

        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)  # Ray's own "auto" step
    return source


def connect(cfg: ClusterConfig, dashboard: bool = True) -> str:
    """Start or join the Ray cluster of ``cfg``; returns the dashboard URL ('' when none)."""
    import ray

    if ray.is_initialized():
        return ""
    runtime_env = {"env_vars": actor_env()}
    if cfg.address == "local":
        Path(ACTOR_ENV_DEFAULTS["TORCH_EXTENSIONS_DIR"]).mkdir(parents=True, exist_ok=True)
        context = ray.init(
            address="local",
            num_cpus=cfg.num_cpus,
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            _node_ip_address="127.0.0.1",
            runtime_env=runtime_env,
            log_to_driver=False,
            logging_level="WARNING",
        )
    else:
        # A submitted job already carries its runtime env (working_dir): actors add env vars
        # through actor_options() instead of replacing it here.
        use_saved_token()
        context = ray.init(address=cfg.address, log_to_driver=False, logging_level="WARNING")
    return f"http://{context.dashboard_url}" if context.dashboard_url else ""


def actor_options(
    name: str | None = None, num_cpus: float = 1.0, num_gpus: float = 0.0, threads: int | None = None, **extra
) -> dict:
    """``.options()`` for one of our actors: its resources, role name and the actor environment.
    ``threads`` sets its compute threads (``OMP_NUM_THREADS``); None leaves Ray's choice, the floor
    of its CPUs (at least 1)."""
    env = actor_env()
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "runtime_env": {"env_vars": env}, **extra}
    if name:
        options["name"] = name
    return options
