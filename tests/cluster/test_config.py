"""The run config: presets load, overrides apply, bad input fails early with a useful message."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from cluster.config import CONFIGS_DIR, ConfigError, RunConfig, load_config, save_config
from tests.support.runs import REPO_ROOT


@pytest.mark.parametrize("preset", sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
def test_every_preset_validates(preset):
    assert isinstance(load_config(preset), RunConfig)


def test_paper_preset_has_the_paper_recipe():
    cfg = load_config("qwen3-4b-paper")
    assert (cfg.algorithm.entropy_coef, cfg.algorithm.alpha, cfg.algorithm.kl_coef) == (0.4, 2.0, 0.001)
    assert (cfg.rollout.group_size, cfg.rollout.temperature, cfg.rollout.max_new_tokens) == (8, 0.7, 8192)
    assert (cfg.train.prompts_per_step, cfg.learner.lr, cfg.model.dtype) == (1024, 1e-6, "bfloat16")
    assert cfg.data.prompt_style == "paper"  # the compact prompt is for the tiny model only


def test_defaults_are_the_papers_egpo_knobs():
    cfg = RunConfig()
    assert cfg.algorithm.entropy_coef == 0.4 and cfg.algorithm.alpha == 2.0


def test_every_field_is_documented():
    def walk(model):
        for name, info in model.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, RunConfig.__mro__[1]):
                yield from walk(ann)
            else:
                yield name, info.description

    missing = [name for name, doc in walk(RunConfig) if not doc]
    assert not missing


def test_nested_overrides_and_lora_needs_zero_stage_below_3():
    cfg = load_config("tiny", ["learner.lora.rank=8", "learner.lora.target_modules=[q_proj, v_proj]"])
    assert cfg.learner.lora.rank == 8 and cfg.learner.lora.target_modules == ["q_proj", "v_proj"]
    with pytest.raises(ConfigError, match="learner.lora.rnak"):
        load_config("tiny", ["learner.lora.rnak=8"])
    with pytest.raises(ConfigError, match="learner.zero_stage=3: expected 0, 1 or 2 with learner.lora.rank"):
        load_config("tiny", ["learner.lora.rank=8", "learner.zero_stage=3"])


def test_overrides_are_typed_and_applied():
    cfg = load_config("tiny", ["algorithm.entropy_coef=0", "train.steps=3", "data.val_path=null"])
    assert cfg.algorithm.entropy_coef == 0.0 and cfg.train.steps == 3 and cfg.data.val_path is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("algorithm.entropy_cof=0.1", ["algorithm.entropy_cof", "did you mean 'algorithm.entropy_coef'"]),
        ("rollout.group_size=many", ["rollout.group_size='many'", "integer"]),
        ("rollout.temperature=-1", ["rollout.temperature=-1", "greater than 0"]),
        ("algorithm.alpha=1", ["algorithm.alpha=1", "> 1"]),
        ("rollout.group_size=1", ["rollout.group_size=1", ">= 2"]),
        ("learner.micro_batch_size=7", ["learner.micro_batch_size=7", "divisor"]),
        ("algorthm.alpha=3", ["algorthm", "algorithm"]),
        ("alpha=3", ["section.field", "did you mean"]),
        ("algorithm.alpha", ["key.sub=value"]),
        ("rollout.autoscale=true", ["rollout.max_workers=None", "rollout.autoscale=true"]),
        ("rollout.min_workers=2", ["rollout.num_workers=1", "between rollout.min_workers=2"]),
        ("rollout.max_workers=0", ["rollout.max_workers=0", "greater than or equal to 1"]),
        (
            "rollout.cpus_per_worker=1.5",
            ["cluster.num_cpus=2", "2.75 CPUs the roles reserve", "rollout 1 x 1.5", "reward 1 x 0.25"],
        ),
    ],
)
def test_bad_overrides_name_the_field_value_and_expectation(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config("tiny", [override])
    message = str(info.value)
    for part in expected:
        assert part in message
    assert "\n" not in message


def test_typo_in_yaml_file_names_closest_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rollout:\n  grup_size: 4\n")
    with pytest.raises(ConfigError, match=r"rollout\.grup_size.*did you mean 'rollout\.group_size'"):
        load_config(str(path))


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known presets: .*tiny"):
        load_config("tinny")


def test_saved_config_round_trips(tmp_path):
    cfg = load_config("tiny", ["algorithm.entropy_coef=0.1"])
    save_config(cfg, tmp_path / "config.yaml")
    data = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert RunConfig.model_validate(data) == cfg


def _launch(*args):
    return subprocess.run(
        [sys.executable, "launch.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_subcommands():
    result = _launch("--help")
    assert result.returncode == 0
    for command in ("train", "eval", "scale"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "override", ["model.pth=x", "algorithm.alpha=abc", "algorithm.alpha=0.5"], ids=["typo", "type", "range"]
)
def test_bad_config_exits_2_with_one_paragraph(override):
    result = _launch("train", override)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert override.split("=")[0] in result.stderr


def test_every_bad_cross_field_value_is_named_in_one_message():
    with pytest.raises(ConfigError) as info:
        load_config("tiny", ["algorithm.alpha=0.5", "rollout.group_size=1", "cluster.num_cpus=1"])
    message = str(info.value)
    for named in ("algorithm.alpha=0.5", "rollout.group_size=1", "cluster.num_cpus=1"):
        assert named in message, message
    assert message.count("Invalid config") == 1


def test_tiny_model_heads_must_divide_the_hidden_size():
    with pytest.raises(
        ConfigError, match=r"model.tiny_num_heads=3, model.tiny_num_kv_heads=1: expected heads"
    ):
        load_config("tiny", ["model.tiny_num_heads=3", "model.tiny_num_kv_heads=1"])
    cfg = load_config(
        "tiny", ["model.tiny_hidden_size=96", "model.tiny_num_heads=4", "model.tiny_num_kv_heads=2"]
    )
    assert cfg.model.tiny_num_heads == 4


def test_a_run_that_fails_before_any_work_leaves_no_run_folder(tmp_path):
    result = _launch(
        "train",
        "data.train_path=data/no-such-file.jsonl",
        f"logging.runs_dir={tmp_path}",
        "logging.run_name=gone",
    )
    assert result.returncode == 2, result.stderr
    assert "data.train_path='data/no-such-file.jsonl': data file" in result.stderr
    assert not (tmp_path / "gone").exists()


def test_the_spread_filter_needs_a_warm_start_on_the_tiny_model():
    with pytest.raises(
        ConfigError, match=r"algorithm.spread_filter_samples=8: expected 0 when the tiny model"
    ):
        load_config("tiny", ["model.warm_start_sft_steps=0"])
    assert load_config("tiny", ["model.warm_start_sft_steps=0", "algorithm.spread_filter_samples=0"])


def test_asynchronous_mode_needs_the_sampler_logprobs():
    with pytest.raises(
        ConfigError, match=r"rollout.logprobs=False: expected true or None with algorithm.max_staleness=1"
    ):
        load_config("tiny", ["rollout.logprobs=false", "algorithm.max_staleness=1"])
    assert load_config("tiny", ["algorithm.max_staleness=1"]).sampler_logprobs()
    assert not load_config("tiny").sampler_logprobs()  # synchronous: the learner's pass gives pi_old
    assert load_config("tiny", ["rollout.logprobs=true"]).sampler_logprobs()
