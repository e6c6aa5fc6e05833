"""The rollout worker on a real vLLM engine (CPU, fp32) inside a real Ray actor.

The central check: the log-probs vLLM reports for the tokens it sampled equal an independent
transformers forward pass (log_softmax(logits / T) at the sampled tokens) within 1e-4, before and
after three in-place weight updates, for a model with untied and one with tied embeddings (the
reload trap of stack-notes.md).
"""

from __future__ import annotations

import pytest
import torch

from common.flat_weights import pack

TOL = 1e-4
TEMPERATURE = 0.7
WORKER_SETTINGS = dict(dtype="float32", max_model_len=512, gpu_memory_utilization=0.1, seed=0)


def _start_worker(model_dir, name: str):
    from actors.rollout import RolloutWorker

    return RolloutWorker.options(num_cpus=0.5, num_gpus=0, name=name).remote(
        str(model_dir), **WORKER_SETTINGS
    )


def _probe_worker_class():
    """RolloutWorker plus one test-only method: vLLM's bare in-place reload, without the re-tie of
    the output layer, to show the trap the worker handles. (Defined in a function so Ray ships the
    class by value; every other method is the product's.)"""
    import ray

    from actors.engine import RolloutEngine
    from common.flat_weights import unpack

    class ProbeRolloutWorker(RolloutEngine):
        def bare_reload(self, buffers, index, version: int) -> None:
            named = list(unpack(buffers, index))
            self.llm.collective_rpc(lambda worker: worker.reload_weights(weights_iterator=iter(named)))
            self.llm.reset_prefix_cache()
            self._version = version

    return ray.remote(ProbeRolloutWorker)


@pytest.fixture(scope="module", params=["untied", "tied"])
def model_kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def worker_and_dir(ray_cluster, model_kind, tiny_model_dir, tiny_tied_model_dir):
    """One worker per model kind, shared by this module's tests."""
    model_dir = tiny_tied_model_dir if model_kind == "tied" else tiny_model_dir
    worker = (
        _probe_worker_class()
        .options(num_cpus=0.5, num_gpus=0, name=f"rollout-test-{model_kind}")
        .remote(str(model_dir), **WORKER_SETTINGS)
    )
    ray_cluster.get(worker.ping.remote(), timeout=180)
    yield worker, model_dir
    ray_cluster.kill(worker)


def _hf_model(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def _reference_logprobs(
    model, prompt_ids: list[int], token_ids: list[int], temperature: float
) -> torch.Tensor:
    """The learner's recomputation: log_softmax(logits / T) gathered at the sampled tokens."""
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt_ids) - 1 : -1].float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, torch.tensor(token_ids)[:, None])[:, 0]


def _max_logprob_error(groups, model, temperature: float = TEMPERATURE) -> float:
    err = 0.0
    for group in groups:
        for c in group:
            ref = _reference_logprobs(model, c["prompt_token_ids"], c["token_ids"], temperature)
            err = max(err, (ref - torch.tensor(c["logprobs"])).abs().max().item())
    return err


def _prompts(model_dir) -> list:
    """Two chat-rendered text prompts and one token-id prompt."""
    from common.tokenizer import load_tokenizer

    tok = load_tokenizer(model_dir)
    chats = [
        [{"role": "user", "content": "What is the weather in Paris?"}],
        [{"role": "user", "content": "Convert 12.5 USD to EUR."}],
    ]
    texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    return [*texts, tok.encode("<think>The user wants")]


def test_tied_output_layer_trap_is_real_and_handled(ray_cluster, worker_and_dir, model_kind, tmp_path):
    """vLLM's bare reload leaves a tied model's output layer on the old weights when the weights
    sent are the model's parameters (no lm_head.weight, stack-notes.md); update_weights with the
    same buffers fixes it. Untied models are fine either way.
    Runs first on the shared worker: the trap shows on an engine's first reload."""
    from cluster.models.tiny import build_tiny_model

    worker, model_dir = worker_and_dir
    if ray_cluster.get(worker.version.remote()) != 0:
        pytest.skip("needs a fresh engine (the stale output layer shows on the first reload)")
    new_dir = build_tiny_model(tmp_path / "seed9", tie_word_embeddings=model_kind == "tied", seed=9)
    new = _hf_model(new_dir)
    buffers, index = pack(new.named_parameters())  # a tied model's lm_head.weight is not among them
    prompts, sample = _prompts(model_dir), dict(group_size=3, max_new_tokens=16, seed=4)
    version = ray_cluster.get(worker.version.remote()) + 1

    start_err = _max_logprob_error(
        ray_cluster.get(worker.generate.remote(prompts, **sample)), _hf_model(model_dir)
    )
    ray_cluster.get(worker.bare_reload.remote(buffers, index, version))
    bare_err = _max_logprob_error(ray_cluster.get(worker.generate.remote(prompts, **sample)), new)
    ray_cluster.get(worker.update_weights.remote(buffers, index, version))
    fixed_err = _max_logprob_error(ray_cluster.get(worker.generate.remote(prompts, **sample)), new)
    print(
        f"\n[{model_kind}] error at start {start_err:.2e}, after vLLM's bare reload {bare_err:.2e}, after update_weights {fixed_err:.2e}"
    )
    assert start_err < TOL
    if model_kind == "tied":
        assert bare_err > 0.1, "the stale tied output layer no longer shows: revisit weight_loading.py"
    else:
        assert bare_err < TOL
    assert fixed_err < TOL
    # back to the checkpoint's weights for the module's other tests
    buffers, index = pack(_hf_model(model_dir).state_dict().items())
    ray_cluster.get(worker.update_weights.remote(buffers, index, version + 1))


def test_logprobs_match_learner_before_and_after_three_updates(
    ray_cluster, worker_and_dir, model_kind, tmp_path
):
    from cluster.models.tiny import build_tiny_model

    worker, model_dir = worker_and_dir
    prompts = _prompts(model_dir)
    sample = dict(group_size=4, temperature=TEMPERATURE, max_new_tokens=24, seed=11)

    previous = _hf_model(model_dir)
    groups = ray_cluster.get(worker.generate.remote(prompts, **sample))
    errors = [_max_logprob_error(groups, previous)]
    assert errors[0] < TOL, f"{model_kind}: vLLM vs transformers log-prob error {errors[0]:.2e} at start"

    for version in (1, 2, 3):
        new_dir = build_tiny_model(
            tmp_path / f"seed{version}", tie_word_embeddings=model_kind == "tied", seed=version
        )
        new = _hf_model(new_dir)
        # state_dict() of a tied model also carries lm_head.weight (the same tensor): the worker copes.
        buffers, index = pack(new.state_dict().items(), bucket_bytes=1 << 18)
        assert len(buffers) > 1  # several buckets travel
        ray_cluster.get(worker.update_weights.remote(buffers, index, version))
        assert ray_cluster.get(worker.version.remote()) == version

        groups = ray_cluster.get(worker.generate.remote(prompts, **sample))
        assert all(c["policy_version"] == version for g in groups for c in g)
        errors.append(_max_logprob_error(groups, new))
        stale = _max_logprob_error(groups, previous)
        assert errors[-1] < TOL, f"{model_kind}: log-prob error {errors[-1]:.2e} after update {version}"
        assert stale > 1e-2, "the update did not change the sampling distribution"
        previous = new
    print(
        f"\n[{model_kind}] max |logprob vLLM - transformers| before and after 3 updates: {[f'{e:.2e}' for e in errors]}"
    )


def test_fixed_seed_reproduces_completions(ray_cluster, worker_and_dir):
    worker, model_dir = worker_and_dir
    prompts = _prompts(model_dir)
    kwargs = dict(group_size=3, max_new_tokens=16)
    first = ray_cluster.get(worker.generate.remote(prompts, seed=5, **kwargs))
    again = ray_cluster.get(worker.generate.remote(prompts, seed=5, **kwargs))
    other = ray_cluster.get(worker.generate.remote(prompts, seed=6, **kwargs))
    ids = [[c["token_ids"] for c in g] for g in first]
    assert ids == [[c["token_ids"] for c in g] for g in again]
    assert [[c["logprobs"] for c in g] for g in first] == [[c["logprobs"] for c in g] for g in again]
    assert ids != [[c["token_ids"] for c in g] for g in other]
    # the G samples of one prompt are distinct draws, not copies
    assert all(len({tuple(t) for t in group}) > 1 for group in ids)


def test_without_logprobs_the_same_tokens_are_sampled(ray_cluster, worker_and_dir):
    worker, model_dir = worker_and_dir
    kwargs = dict(group_size=3, temperature=1.0, max_new_tokens=16, seed=5)
    with_lp = ray_cluster.get(worker.generate.remote(_prompts(model_dir), **kwargs))
    without = ray_cluster.get(worker.generate.remote(_prompts(model_dir), logprobs=False, **kwargs))
    assert [[c["token_ids"] for c in g] for g in without] == [[c["token_ids"] for c in g] for g in with_lp]
    assert all(c["logprobs"] == [] for g in without for c in g)
    assert all(len(c["logprobs"]) == len(c["token_ids"]) > 0 for g in with_lp for c in g)


def test_group_size_and_max_new_tokens_are_respected(ray_cluster, worker_and_dir):
    from common.tokenizer import load_tokenizer

    worker, model_dir = worker_and_dir
    eos = load_tokenizer(model_dir).eos_token_id
    prompts = [[5, 6, 7], [40, 41, 42, 43, 44, 45, 46], [9]]
    groups = ray_cluster.get(worker.generate.remote(prompts, group_size=5, max_new_tokens=3, seed=0))
    assert [g[0]["prompt_token_ids"] for g in groups] == prompts  # request order kept
    assert [len(g) for g in groups] == [5, 5, 5]
    finish = []
    for c in (c for g in groups for c in g):
        assert 1 <= len(c["token_ids"]) <= 3 and len(c["logprobs"]) == len(c["token_ids"])
        assert all(lp <= 0 for lp in c["logprobs"])
        assert c["finish_reason"] in ("stop", "length")
        if c["finish_reason"] == "length":
            assert len(c["token_ids"]) == 3
        else:
            assert c["token_ids"][-1] == eos
        finish.append(c["finish_reason"])
    assert "length" in finish


def test_ping_reports_version_and_model(ray_cluster, worker_and_dir):
    worker, model_dir = worker_and_dir
    info = ray_cluster.get(worker.ping.remote(), timeout=10)
    assert info["model_path"] == str(model_dir)
    assert info["version"] == ray_cluster.get(worker.version.remote())
    assert isinstance(info["pid"], int) and info["device"] == "cpu"


def test_on_cpu_sleep_and_wake_up_give_nothing_back_and_sampling_goes_on(ray_cluster, worker_and_dir):
    worker, _ = worker_and_dir  # cluster.mode=colocated on CPU: no sleep mode, the cores are shared
    assert ray_cluster.get(worker.sleep.remote()) == {"seconds": 0.0, "freed_gib": 0.0}
    assert ray_cluster.get(worker.wake_up.remote()) == {"seconds": 0.0}
    out = ray_cluster.get(worker.generate.remote([[5, 6, 7]], group_size=2, max_new_tokens=4, seed=1))
    assert len(out[0]) == 2


def test_bad_sampling_arguments_are_rejected(ray_cluster, worker_and_dir):
    worker, _ = worker_and_dir
    with pytest.raises(ValueError, match="group_size"):
        ray_cluster.get(worker.generate.remote([[1, 2]], group_size=0))
    with pytest.raises(ValueError, match="temperature"):
        ray_cluster.get(worker.generate.remote([[1, 2]], group_size=2, temperature=-1.0))


def test_seeded_batch_larger_than_one_scheduler_step(ray_cluster, worker_and_dir):
    """Many long prompts with a seed (more prompt tokens than one scheduler step takes): on CPU this
    crashed vLLM with chunked prefill ("CPU Generator does not use offset")."""
    worker, _ = worker_and_dir
    prompts = [[(7 * i + j) % 200 + 3 for j in range(400)] for i in range(14)]  # 5,600 prompt tokens
    groups = ray_cluster.get(
        worker.generate.remote(prompts, group_size=2, temperature=1.0, max_new_tokens=4, seed=3)
    )
    assert len(groups) == 14 and all(len(g) == 2 for g in groups)


def test_temperature_zero_is_greedy_decoding(ray_cluster, worker_and_dir):
    """Evaluation decodes greedily: the argmax token at every step, as transformers' greedy search."""
    worker, model_dir = worker_and_dir
    prompts = _prompts(model_dir)
    model = _hf_model(model_dir)
    buffers, index = pack(model.state_dict().items())  # other tests may have changed the weights
    ray_cluster.get(worker.update_weights.remote(buffers, index, 100))
    groups = ray_cluster.get(
        worker.generate.remote(prompts, group_size=2, temperature=0.0, max_new_tokens=12)
    )
    for group in groups:
        assert group[0]["token_ids"] == group[1]["token_ids"] and group[0]["logprobs"] == []
        ids = list(group[0]["prompt_token_ids"])
        for token in group[0]["token_ids"]:
            with torch.no_grad():
                expected = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            assert token == expected
            ids.append(token)


def test_missing_model_directory_fails_with_a_clear_error(ray_cluster, tmp_path):
    import ray

    missing = tmp_path / "no-such-model"
    worker = _start_worker(missing, "rollout-test-missing")
    with pytest.raises(ray.exceptions.RayActorError, match="no-such-model.*does not exist"):
        ray.get(worker.ping.remote(), timeout=60)


def test_memory_setting_that_does_not_fit_fails_with_a_clear_error(ray_cluster, tiny_model_dir):
    import ray

    from actors.rollout import RolloutWorker

    worker = RolloutWorker.options(num_cpus=0.5, name="rollout-test-memory").remote(
        str(tiny_model_dir), max_model_len=512, gpu_memory_utilization=1e-7
    )
    with pytest.raises(ray.exceptions.RayActorError, match="gpu_memory_utilization=1e-07"):
        ray.get(worker.ping.remote(), timeout=120)


def test_weights_arrive_by_broadcast_over_a_dedicated_group(
    ray_cluster, worker_and_dir, model_kind, tmp_path
):
    """The stretch path: the learner side (this process, rank 0) broadcasts flat buffers over a
    gloo group on its own TCPStore; the worker receives and applies them."""
    from cluster.models.tiny import build_tiny_model
    from common.weight_group import create_weight_group, find_free_port

    worker, model_dir = worker_and_dir
    port = find_free_port("127.0.0.1")
    joined = worker.init_weight_group.remote("127.0.0.1", port, 1, 2, "gloo")
    group = create_weight_group("127.0.0.1", port, 0, 2, "gloo", timeout_s=60)
    try:
        ray_cluster.get(joined, timeout=60)
        new_dir = build_tiny_model(tmp_path / "seed7", tie_word_embeddings=model_kind == "tied", seed=7)
        new = _hf_model(new_dir)
        buffers, index = pack(new.named_parameters(), bucket_bytes=1 << 18)
        version = ray_cluster.get(worker.version.remote()) + 1
        received = worker.receive_weights.remote(index, version)
        group.broadcast(buffers, src=0)
        ray_cluster.get(received, timeout=60)
    finally:
        group.close()
    groups = ray_cluster.get(
        worker.generate.remote(_prompts(model_dir), group_size=3, max_new_tokens=16, seed=2)
    )
    assert all(c["policy_version"] == version for g in groups for c in g)
    err = _max_logprob_error(groups, new)
    assert err < TOL, f"{model_kind}: log-prob error {err:.2e} after a broadcast update"


def test_stop_string_ends_a_completion(ray_cluster, worker_and_dir):
    """Same seed, with a stop string taken from the middle of a free completion: the completion ends
    there ("stop"), its tokens are a prefix of the free one and the text stops before the string."""
    worker, model_dir = worker_and_dir
    prompt = _prompts(model_dir)[:1]
    kwargs = dict(group_size=2, max_new_tokens=30, seed=3)
    free = ray_cluster.get(worker.generate.remote(prompt, **kwargs))[0][0]
    assert len(free["text"]) >= 12
    stop = free["text"][8:11]
    cut = ray_cluster.get(worker.generate.remote(prompt, stop=[stop], **kwargs))[0][0]
    assert cut["finish_reason"] == "stop"
    assert free["token_ids"][: len(cut["token_ids"])] == cut["token_ids"]
    assert len(cut["token_ids"]) < len(free["token_ids"]) and len(cut["logprobs"]) == len(cut["token_ids"])
    assert free["text"].startswith(cut["text"]) and stop not in cut["text"]


def test_update_with_wrong_names_or_shapes_is_rejected_and_engine_keeps_working(ray_cluster, worker_and_dir):
    worker, model_dir = worker_and_dir
    model = _hf_model(model_dir)
    before = ray_cluster.get(worker.version.remote())
    prefixed = [(f"module.{n}", t) for n, t in model.named_parameters()]  # e.g. a wrapper's names
    with pytest.raises(ValueError, match="module.model.embed_tokens.weight"):
        ray_cluster.get(worker.update_weights.remote(*pack(prefixed), before + 1))
    bad_shape = [(n, t[:-1] if n == "model.norm.weight" else t) for n, t in model.named_parameters()]
    with pytest.raises(ValueError, match=r"model.norm.weight \(63,\)"):
        ray_cluster.get(worker.update_weights.remote(*pack(bad_shape), before + 1))
    assert ray_cluster.get(worker.version.remote()) == before
    ray_cluster.get(worker.update_weights.remote(*pack(model.named_parameters()), before + 1))
    groups = ray_cluster.get(worker.generate.remote(_prompts(model_dir), group_size=2, max_new_tokens=8))
    assert _max_logprob_error(groups, model) < TOL
