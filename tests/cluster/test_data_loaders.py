"""Loaders on hand-written records in the public formats, and the validation messages at the edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.data import (
    DataError,
    GoldCallError,
    MalformedRecordError,
    Sample,
    ToolSchemaError,
    load_samples,
)
from cluster.synthetic import write_jsonl
from tests.support.records import (
    BFCL_IRRELEVANCE,
    BFCL_LIVE,
    BFCL_LIVE_ANSWER,
    BFCL_SIMPLE,
    BFCL_SIMPLE_ANSWER,
    WEATHER,
    XLAM_RECORD,
)


def write_lines(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def egpo_record(sample_id: str = "s1", **changes) -> dict:
    record = {
        "id": sample_id,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER],
        "ground_truth": [{"get_weather": {"city": ["Paris"], "unit": ["", "celsius"]}}],
        "category": "simple",
        "reference": "<think>The user wants the weather. get_weather fits.</think>[get_weather(city='Paris')]",
    }
    record.update(changes)
    return record


# --- BFCL ---------------------------------------------------------------------------------------


def test_bfcl_question_and_possible_answer_files(tmp_path, capsys):
    questions = write_lines(tmp_path / "BFCL_v4_mixed.json", [BFCL_SIMPLE, BFCL_LIVE, BFCL_IRRELEVANCE])
    answers = write_lines(tmp_path / "possible_answer.json", [BFCL_SIMPLE_ANSWER, BFCL_LIVE_ANSWER])

    result = load_samples(questions, "bfcl", answers_path=answers)

    simple, live, irrelevance = result.samples
    assert simple.category == "simple_python"
    assert simple.ground_truth == BFCL_SIMPLE_ANSWER["ground_truth"]
    assert simple.messages == BFCL_SIMPLE["question"][0]
    assert simple.tools == BFCL_SIMPLE["function"]
    assert live.category == "live_multiple"
    assert live.messages[0] == {"role": "system", "content": "You are a concise assistant."}
    assert irrelevance.category == "irrelevance" and irrelevance.ground_truth == []
    assert result.skipped == []
    assert "loaded 3 samples" in capsys.readouterr().err


def test_bfcl_answers_found_beside_the_questions_as_in_the_package_layout(tmp_path):
    (tmp_path / "possible_answer").mkdir()
    write_lines(tmp_path / "possible_answer" / "BFCL_v4_simple_python.json", [BFCL_SIMPLE_ANSWER])
    questions = write_lines(tmp_path / "BFCL_v4_simple_python.json", [BFCL_SIMPLE])
    (sample,) = load_samples(questions, "bfcl").samples
    assert sample.ground_truth == BFCL_SIMPLE_ANSWER["ground_truth"]


def test_bfcl_question_without_answer_names_the_line(tmp_path):
    questions = write_lines(tmp_path / "q.json", [BFCL_IRRELEVANCE, BFCL_SIMPLE])
    with pytest.raises(
        MalformedRecordError,
        match=rf"^{tmp_path / 'q.json'}:2: no possible answer for 'simple_python_0'.*answers_path",
    ):
        load_samples(questions, "bfcl")


def test_bfcl_bad_answer_line_is_reported_with_its_question_under_skip_invalid(tmp_path):
    questions = write_lines(tmp_path / "q.json", [BFCL_SIMPLE, BFCL_IRRELEVANCE])
    answers = write_lines(tmp_path / "a.json", ['{"id": "simple_python_0", "ground_truth": [{'])
    result = load_samples(questions, "bfcl", answers_path=answers, skip_invalid=True)
    assert [s.id for s in result.samples] == ["irrelevance_7"]
    assert result.skipped[0].startswith(f"{answers}:1: malformed JSON line")
    assert result.skipped[1].startswith(f"{questions}:1: no possible answer for 'simple_python_0'")


def test_bfcl_multi_turn_questions_are_rejected(tmp_path):
    record = {
        **BFCL_IRRELEVANCE,
        "id": "multi_turn_base_0",
        "question": [[{"role": "user", "content": "a"}]] * 2,
    }
    with pytest.raises(MalformedRecordError, match=r":1: 'multi_turn_base_0' is a multi-turn BFCL question"):
        load_samples(write_lines(tmp_path / "q.json", [record]), "bfcl", answers_path=None)


# --- xLAM ---------------------------------------------------------------------------------------


def test_xlam_json_array_maps_tools_to_object_schemas_and_single_values_to_lists(tmp_path):
    path = tmp_path / "xlam_function_calling_60k.json"
    path.write_text(json.dumps([XLAM_RECORD], indent=2))

    (sample,) = load_samples(path, "xlam").samples

    assert sample.id == "0"
    assert sample.messages == [{"role": "user", "content": XLAM_RECORD["query"]}]
    (tool,) = sample.tools
    assert tool["parameters"]["type"] == "dict"
    assert tool["parameters"]["properties"]["type"]["type"] == "string"
    assert tool["parameters"]["properties"]["limit"]["type"] == "integer"
    assert tool["parameters"]["required"] == ["type"]  # ", optional" marks the optional ones
    assert sample.ground_truth == [
        {"live_giveaways_by_type": {"type": ["beta"]}},
        {"live_giveaways_by_type": {"type": ["game"]}},
    ]
    assert sample.category == "parallel"


def test_xlam_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "xlam.parquet"
    pq.write_table(pa.Table.from_pylist([XLAM_RECORD, {**XLAM_RECORD, "id": 1, "answers": "[]"}]), path)

    samples = load_samples(path, "xlam").samples

    assert [s.id for s in samples] == ["0", "1"]
    assert samples[1].ground_truth == [] and samples[1].category == "no_call"


def test_xlam_answer_with_unknown_argument_is_reported(tmp_path):
    bad = {
        **XLAM_RECORD,
        "answers": json.dumps([{"name": "live_giveaways_by_type", "arguments": {"platform": "pc"}}]),
    }
    with pytest.raises(
        GoldCallError,
        match=r"\.jsonl:1: gold call #1 'live_giveaways_by_type' has argument 'platform', which its schema lacks",
    ):
        load_samples(write_lines(tmp_path / "x.jsonl", [bad]), "xlam")


# --- OpenAI-style chat --------------------------------------------------------------------------

CHAT_RECORD = {
    "id": "conv7",
    "messages": [
        {"role": "system", "content": "You help with travel."},
        {"role": "user", "content": "What's the weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 3}'},
        {"role": "assistant", "content": "It is 3 degrees in Oslo."},
        {"role": "user", "content": "And in Rome and Lima, in fahrenheit?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c2",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Rome", "unit": "fahrenheit"}',
                    },
                },
                {
                    "id": "c3",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Lima", "unit": "fahrenheit"}',
                    },
                },
            ],
        },
    ],
    "tools": [
        {
            "type": "function",
            "function": {**WEATHER, "parameters": {**WEATHER["parameters"], "type": "object"}},
        }
    ],
}


def test_chat_conversation_gives_one_sample_per_assistant_turn(tmp_path):
    (first, reply, second) = load_samples(write_lines(tmp_path / "chat.jsonl", [CHAT_RECORD]), "chat").samples

    assert [first.id, reply.id, second.id] == ["conv7-turn2", "conv7-turn4", "conv7-turn6"]
    assert first.messages == [
        {"role": "system", "content": "You help with travel."},
        {"role": "user", "content": "What's the weather in Oslo?"},
    ]
    assert first.ground_truth == [{"get_weather": {"city": ["Oslo"]}}] and first.category == "simple"
    assert first.tools[0]["name"] == "get_weather" and first.tools[0]["parameters"]["type"] == "object"
    # the final text reply expects no call; its history holds the earlier call and the tool result
    assert reply.ground_truth == [] and reply.category == "no_call"
    assert reply.messages[2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
    }
    assert reply.messages[3] == {"role": "tool", "content": '{"temp": 3}'}
    assert reply.reference.endswith("</think>It is 3 degrees in Oslo.")
    assert len(second.messages) == 6 and second.messages[-1]["content"].startswith("And in Rome")
    assert second.ground_truth == [
        {"get_weather": {"city": ["Rome"], "unit": ["fahrenheit"]}},
        {"get_weather": {"city": ["Lima"], "unit": ["fahrenheit"]}},
    ]
    assert second.category == "parallel"


# --- egpo (this project's JSONL) ----------------------------------------------------------------


def test_egpo_without_category_gets_one_inferred(tmp_path):
    record = egpo_record("a", tools=[WEATHER, {**WEATHER, "name": "get_forecast"}])
    del record["category"]
    (sample,) = load_samples(write_lines(tmp_path / "s.jsonl", [record])).samples
    assert sample.category == "multiple"


def test_egpo_jsonl_round_trip(tmp_path):
    samples = [
        Sample.model_validate(egpo_record("a")),
        Sample.model_validate(egpo_record("b", category="multiple")),
    ]
    write_jsonl(samples, tmp_path / "s.jsonl")
    assert load_samples(tmp_path / "s.jsonl").samples == samples


def test_gzip_compressed_json_lines_and_array(tmp_path):
    import gzip

    samples = [Sample.model_validate(egpo_record("a")), Sample.model_validate(egpo_record("b"))]
    write_jsonl(samples, tmp_path / "s.jsonl")
    (tmp_path / "s.jsonl.gz").write_bytes(gzip.compress((tmp_path / "s.jsonl").read_bytes()))
    assert load_samples(tmp_path / "s.jsonl.gz").samples == samples
    array = json.dumps([json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()])
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(array.encode()))
    assert load_samples(tmp_path / "a.json.gz").samples == samples
    (tmp_path / "bad.jsonl.gz").write_bytes(gzip.compress(b'{"id": "b", "messages": [\n'))
    with pytest.raises(MalformedRecordError, match=r"bad.jsonl.gz:1: malformed JSON line"):
        load_samples(tmp_path / "bad.jsonl.gz")


def test_a_limit_stops_reading_after_that_many_samples(tmp_path, capsys):
    samples = [Sample.model_validate(egpo_record(name)) for name in "abc"]
    write_jsonl(samples, tmp_path / "s.jsonl.gz")  # written compressed, as the shipped training file
    assert load_samples(tmp_path / "s.jsonl.gz", limit=2).samples == samples[:2]
    assert "loaded 2 samples from 2 records" in capsys.readouterr().err
    assert load_samples(tmp_path / "s.jsonl.gz", limit=10).samples == samples


# --- bad input ----------------------------------------------------------------------------------


def test_malformed_line_stops_the_load_with_file_and_line(tmp_path):
    path = write_lines(
        tmp_path / "d.jsonl", [egpo_record("a"), '{"id": "b", "messages": [', egpo_record("c")]
    )
    with pytest.raises(MalformedRecordError, match=rf"^{path}:2: malformed JSON line"):
        load_samples(path)


def test_tool_schema_that_is_not_an_object_schema(tmp_path):
    tool = {**WEATHER, "parameters": {"type": "string"}}
    path = write_lines(tmp_path / "d.jsonl", [egpo_record("a", tools=[tool])])
    with pytest.raises(
        ToolSchemaError,
        match=rf"^{path}:1: tool 'get_weather': 'parameters' has type 'string', expected 'dict' or 'object'",
    ):
        load_samples(path)


def test_gold_call_naming_a_function_not_among_the_tools(tmp_path):
    path = write_lines(
        tmp_path / "d.jsonl", [egpo_record("a", ground_truth=[{"get_forecast": {"city": ["Paris"]}}])]
    )
    with pytest.raises(
        GoldCallError,
        match=rf"^{path}:1: gold call #1 names function 'get_forecast', which is not among the tools \(get_weather\)",
    ):
        load_samples(path)


def test_gold_argument_the_schema_lacks(tmp_path):
    gold = [{"get_weather": {"city": ["Paris"], "country": ["FR"]}}]
    path = write_lines(tmp_path / "d.jsonl", [egpo_record("a", ground_truth=gold)])
    with pytest.raises(
        GoldCallError,
        match=r":1: gold call #1 'get_weather' has argument 'country', which its schema lacks \(parameters: city, unit\)",
    ):
        load_samples(path)


def test_prompt_ending_on_an_assistant_turn_and_duplicate_ids(tmp_path):
    ends_on_answer = egpo_record(
        "a", messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]
    )
    with pytest.raises(MalformedRecordError, match=r":1: the prompt ends on a assistant turn"):
        load_samples(write_lines(tmp_path / "a.jsonl", [ends_on_answer]))
    with pytest.raises(MalformedRecordError, match=r"d\.jsonl:2: id 'x' was already used at .*d\.jsonl:1"):
        load_samples(write_lines(tmp_path / "d.jsonl", [egpo_record("x"), egpo_record("x")]))


def test_errors_are_value_errors():
    assert issubclass(DataError, ValueError)
    for cls in (MalformedRecordError, ToolSchemaError, GoldCallError):
        assert issubclass(cls, DataError)


def test_skip_invalid_skips_and_reports_every_bad_line(tmp_path, capsys):
    path = write_lines(
        tmp_path / "d.jsonl",
        [
            egpo_record("a"),
            "not json",
            egpo_record("b", tools=[{**WEATHER, "parameters": {"type": "array"}}]),
            egpo_record("c"),
            egpo_record("d", ground_truth=[{"nope": {}}]),
        ],
    )

    result = load_samples(path, skip_invalid=True)

    assert [s.id for s in result.samples] == ["a", "c"]
    assert len(result.skipped) == 3
    assert result.skipped[0].startswith(f"{path}:2: malformed JSON line")
    assert result.skipped[1].startswith(f"{path}:3: tool 'get_weather'")
    assert result.skipped[2].startswith(f"{path}:5: gold call #1 names function 'nope'")
    err = capsys.readouterr().err
    assert "loaded 2 samples from 5 records" in err and "skipped 3 invalid record(s)" in err
    assert all(reason in err for reason in result.skipped)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown data format 'csv'"):
        load_samples(tmp_path / "x.jsonl", "csv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_samples(tmp_path / "missing.jsonl")
