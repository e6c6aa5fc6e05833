"""``launch.py scale``: change the number of rollout workers of a running training run.

A run's rollout pool starts a small Ray actor, :class:`ScaleControl`, named
``egpo-control-<run name>`` in the namespace ``egpo``. It holds the pool's target size and the
pool's last report (workers now, policy version, last placement problem). ``scale`` joins the Ray
cluster, finds that actor by name and sets the target; the pool reads it between work chunks and
at every step boundary and starts or retires workers to match. The actor needs no CPU and dies
with the run's driver.

    python launch.py scale --workers 3                       # the only run on the local cluster
    python launch.py scale --workers 1 --run my-run --address 10.0.0.5:6379
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Any

import ray

from cluster.roles.ray_setup import use_saved_token

NAMESPACE = "egpo"
CONTROL_PREFIX = "egpo-control-"


def control_name(run_name: str) -> str:
    """The Ray name of the control actor of run ``run_name``."""
    return f"{CONTROL_PREFIX}{run_name}"


class ScaleControl:
    """The target size of one run's rollout pool, and what the pool last reported."""

    def __init__(
        self, run_name: str, target: int, min_workers: int, max_workers: int | None, autoscale: bool
    ):
        self.run_name = run_name
        self.target = target
        self.min_workers = min_workers
        self.max_workers = max_workers
        self.autoscale = autoscale
        self.report: dict[str, Any] = {}
        self.requests = 0

    def set_target(self, workers: int) -> dict[str, Any]:
        """Set the target (bounds checked); returns the status. Raises ValueError outside the bounds."""
        if workers < self.min_workers:
            raise ValueError(
                f"--workers {workers}: run {self.run_name!r} keeps at least rollout.min_workers="
                f"{self.min_workers} rollout workers"
            )
        if self.max_workers is not None and workers > self.max_workers:
            raise ValueError(
                f"--workers {workers}: run {self.run_name!r} allows at most rollout.max_workers="
                f"{self.max_workers} rollout workers"
            )
        if self.autoscale:
            raise ValueError(
                f"run {self.run_name!r} autoscales (rollout.autoscale=true, between {self.min_workers} "
                f"and {self.max_workers or 'the cluster size'} workers); its size is not set by hand"
            )
        self.target = workers
        self.requests += 1
        return self.status()

    def get_target(self) -> int:
        return self.target

    def pool_report(self, report: dict[str, Any]) -> None:
        """The pool's state: ``workers``, ``starting``, ``version``, ``restarts``, ``note``."""
        self.report = dict(report)
        if self.autoscale and "target" in report:
            self.target = int(report["target"])

    def status(self) -> dict[str, Any]:
        return {
            "run": self.run_name,
            "target": self.target,
            "min_workers": self.min_workers,
            "max_workers": self.max_workers,
            "autoscale": self.autoscale,
            **{f"pool_{k}": v for k, v in self.report.items()},
        }


def start_control(
    run_name: str, target: int, min_workers: int = 1, max_workers: int | None = None, autoscale: bool = False
):
    """Start the control actor of ``run_name``; ValueError if a run of that name is already live."""
    actor_class = ray.remote(num_cpus=0, max_restarts=0)(ScaleControl)
    try:
        return actor_class.options(name=control_name(run_name), namespace=NAMESPACE).remote(
            run_name, target, min_workers, max_workers, autoscale
        )
    except ValueError as error:
        raise ValueError(
            f"a run named {run_name!r} is already running on this Ray cluster (actor "
            f"{control_name(run_name)!r} exists): choose another logging.run_name"
        ) from error


def running_runs() -> list[str]:
    """Names of the runs with a live control actor on the connected cluster, sorted."""
    names = [
        entry["name"]
        for entry in ray.util.list_named_actors(all_namespaces=True)
        if entry.get("namespace") == NAMESPACE and entry["name"].startswith(CONTROL_PREFIX)
    ]
    return sorted(name.removeprefix(CONTROL_PREFIX) for name in names)


def find_control(run_name: str | None):
    """The control actor of ``run_name`` (or of the only run); LookupError naming the runs there."""
    runs = running_runs()
    if run_name is None:
        if len(runs) == 1:
            run_name = runs[0]
        elif not runs:
            raise LookupError("no training run is running on this Ray cluster")
        else:
            raise LookupError(f"several runs are running on this Ray cluster: {runs}; name one with --run")
    if run_name not in runs:
        there = f"runs there: {runs}" if runs else "no training run is running there"
        raise LookupError(f"no run named {run_name!r} is running on this Ray cluster ({there})")
    return ray.get_actor(control_name(run_name), namespace=NAMESPACE)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (``ray.init`` would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # 'auto', 'local' or a ray:// client address: Ray checks those itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConnectionError(f"nothing answers at {address} ({error})") from error


class JoinError(ConnectionError):
    """The cluster could not be joined; the message says why and what to do."""


def _connect(address: str) -> bool:
    """Join the cluster at ``address`` (with the saved auth token, as the driver that printed the
    command does) unless this process already is; True when we joined. Raises ``JoinError``."""
    if ray.is_initialized():
        return False
    try:
        _check_reachable(address)
    except ConnectionError as error:
        raise JoinError(
            f"{error}: is the run's Ray cluster up, and is this its head node's host:port?"
        ) from None
    token = use_saved_token()
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="WARNING")
    except (ConnectionError, ray.exceptions.AuthenticationError):
        # The port answered (checked above) yet Ray could not join: with token authentication on
        # (Ray's default) that is a missing or wrong token; Ray says so only in its C++ log.
        if token is None:
            raise JoinError(
                f"the Ray cluster at {address} answers but did not let this client in, and no Ray auth "
                "token was found here (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token): with "
                "token authentication on (Ray's default) copy the head node's ~/.ray/auth_token to "
                "this machine or set RAY_AUTH_TOKEN"
            ) from None
        raise JoinError(
            f"the Ray cluster at {address} answers but did not let this client in with the auth token "
            f"from {token}: use the head node's token (its ~/.ray/auth_token)"
        ) from None
    return True


def scale_command(args: argparse.Namespace) -> int:
    """``launch.py scale --workers N [--run NAME] [--address ADDR]``; returns the exit status."""
    if args.workers < 1:
        print(f"launch.py scale: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        joined = _connect(args.address)
    except JoinError as error:
        print(
            f"launch.py scale: cannot join the Ray cluster at --address {args.address}: {error}",
            file=sys.stderr,
        )
        return 2
    except Exception as error:  # bad addresses and the like: all the user's to fix
        print(
            f"launch.py scale: cannot join a Ray cluster at --address {args.address}: "
            f"{type(error).__name__}: {error}. Is a training run going? Give its cluster's address "
            f"(host:port of the head node) with --address.",
            file=sys.stderr,
        )
        return 2
    try:
        control = find_control(args.run)
        before = ray.get(control.status.remote(), timeout=30)
        status = ray.get(control.set_target.remote(args.workers), timeout=30)
    except LookupError as error:
        print(f"launch.py scale: {error} (--address {args.address})", file=sys.stderr)
        return 2
    except ray.exceptions.RayTaskError as error:  # set_target refused the size: its bounds
        print(f"launch.py scale: {getattr(error, 'cause', error)}", file=sys.stderr)
        return 2
    finally:
        if joined:
            ray.shutdown()
    now = before.get("pool_workers", "?")
    print(
        f"Run {status['run']!r}: rollout workers {now} now, target set to {status['target']} "
        f"(applied between work chunks and at the next step; new workers get the current weights first)."
    )
    note = before.get("pool_note")
    if note:
        print(f"Last pool note: {note}")
    return 0


def wait_for_report(control, predicate, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll the control actor's status until ``predicate(status)`` holds (for tests and tools)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = ray.get(control.status.remote(), timeout=10)
        if predicate(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.2)
