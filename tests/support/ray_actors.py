"""Ray actors in tests: kill one and wait until it is really gone."""

from __future__ import annotations

import time


def kill_actor(actor, no_restart: bool = True, timeout_s: float = 60.0) -> None:
    """``ray.kill`` the actor, then wait until it is really gone: ``ray.kill`` is asynchronous, and a
    test that uses the pool right away could otherwise race the kill."""
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
