"""The embedded default's model, built in code: loadable, stable ids, values copy token for token."""

from __future__ import annotations

from transformers import AutoModelForCausalLM

from cluster.models.tiny import TAG_TOKENS, build_tiny_model, build_tokenizer
from common.tokenizer import load_tokenizer


def test_ids_survive_a_reload(tiny_model_dir):
    built = build_tokenizer(["The user wants the weather in Paris. get_weather fits."])
    loaded = load_tokenizer(tiny_model_dir)
    text = "<think>The user wants a hotel in Havana.</think>[book_hotel(city='Havana', nights=11)]"
    rebuilt = load_tokenizer(tiny_model_dir)
    assert loaded.encode(text) == rebuilt.encode(text)
    assert loaded.decode(loaded.encode(text)) == text
    assert built.decode(built.encode(text)) == text


def test_tags_are_single_tokens_and_values_copy_exactly(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    for tag in TAG_TOKENS:
        assert len(tok.encode(tag, add_special_tokens=False)) == 1
    request = tok.encode("Book a hotel in Havana for 11 nights.", add_special_tokens=False)
    call = tok.encode("[book_hotel(city='Havana', nights=11)]", add_special_tokens=False)

    def contains(seq, sub):
        return any(seq[i : i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))

    for value in ("Havana", "11"):  # a digit run is one pre-token, like a word
        ids = tok.encode(value, add_special_tokens=False)
        assert contains(request, ids) and contains(call, ids)


def test_a_number_the_bpe_merged_is_one_token():
    tok = build_tokenizer(["Set a timer for 45 minutes."] * 50 + ["minutes=45"] * 50, vocab_size=400)
    assert len(tok.encode("45", add_special_tokens=False)) == 1


def test_a_function_name_the_bpe_merged_is_one_token_in_the_tool_list_and_in_the_call():
    corpus = ["get_visa_rules(country: string) - Visa rules.", "[get_visa_rules(country='Peru')]"] * 50
    tok = build_tokenizer(corpus, vocab_size=400)
    name = tok.encode("get_visa_rules", add_special_tokens=False)
    assert len(name) == 1
    assert name[0] in tok.encode("[get_visa_rules(country='Chile')]", add_special_tokens=False)
    assert name[0] in tok.encode("\nget_visa_rules(country: string)", add_special_tokens=False)


def test_the_saved_model_tokenizes_as_its_tokenizer_was_trained(tmp_path):
    # transformers' AutoTokenizer gives a qwen2 directory Qwen2's pre-tokenizer whatever its
    # tokenizer.json says: the name below came back as five tokens and the number as two
    corpus = ["get_visa_rules(country: string)", "[get_visa_rules(country='Peru', days=12)]"] * 50
    built = build_tokenizer(corpus, vocab_size=400)
    model_dir = build_tiny_model(tmp_path / "m", corpus, vocab_size=400, hidden_size=16, num_heads=1)
    loaded = load_tokenizer(model_dir)
    text = "<think>Visa rules.</think>[get_visa_rules(country='Chile', days=12)]"
    assert loaded.encode(text, add_special_tokens=False) == built.encode(text, add_special_tokens=False)
    assert loaded.tokenize("get_visa_rules 12") == ["get_visa_rules", "Ġ", "12"]


def test_the_tiny_preset_builds_a_tied_model(tmp_path, monkeypatch):
    from cluster.config import load_config
    from cluster.models import resolve as models

    monkeypatch.setattr(models, "CACHE_DIR", tmp_path)
    small = ["model.tiny_hidden_size=64", "model.tiny_num_heads=2", "model.tiny_num_kv_heads=1"]
    built = models.resolve_model(load_config("tiny", small).model, ["Book a hotel in Havana."])
    model = AutoModelForCausalLM.from_pretrained(built)
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_model_loads_with_untied_embeddings(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
