"""`rightmodel train` reads OpenAI chat fine-tuning JSONL (issue 21)."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

SYSTEM = "Classify the customer's message into one intent. Answer with the intent only."


def chat(user: str, label: str, system: str | None = SYSTEM) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": messages + [{"role": "user", "content": user}, {"role": "assistant", "content": label}]}


def write_lines(path, rows) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")


def test_reads_label_text_and_system_prompt(tmp_path):
    from rightmodel.data import read_labelled

    multi_turn = {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "first question"}, {"role": "assistant", "content": "ignored"},
        {"role": "user", "content": [{"type": "text", "text": "where is "}, {"type": "text", "text": "my card?"}]},
        {"role": "assistant", "content": " card_arrival "},
    ]}
    rows = [chat("my card has not come", "card_arrival"), chat("rate for euros?", "exchange_rate"),
            chat("what rate do you use", "exchange_rate", system="Other prompt"), multi_turn]
    path = tmp_path / "ft.jsonl"
    write_lines(path, rows)
    data = read_labelled(path)
    assert data.texts == ["my card has not come", "rate for euros?", "what rate do you use", "where is my card?"]
    assert [lab for (lab,) in data.labels] == ["card_arrival", "exchange_rate", "exchange_rate", "card_arrival"]
    assert data.system_prompts == (SYSTEM, "Other prompt")  # most common first


@pytest.mark.parametrize("bad, needle", [
    ("{not json", "not valid JSON"),
    ({"text": "no messages here", "label": "x"}, "no 'messages' list"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
    ({"messages": [{"role": "system", "content": SYSTEM}, {"role": "assistant", "content": "card_arrival"}]}, "no user message"),
    ({"messages": [{"content": "hi"}]}, "not an object with a 'role'"),
    ({"messages": [{"role": "user", "content": {"a": 1}}, {"role": "assistant", "content": "x"}]}, "content of type dict"),
])
def test_bad_line_is_named(tmp_path, bad, needle):
    from rightmodel.data import read_labelled
    from rightmodel.errors import DataError

    path = tmp_path / "ft.jsonl"
    write_lines(path, [chat("a", "x"), chat("b", "y"), bad, chat("c", "x")])
    with pytest.raises(DataError) as err:
        read_labelled(path, min_per_class=1)
    assert "line 3" in str(err.value) and needle in str(err.value), str(err.value)


def test_train_cli_names_the_bad_line(tmp_path):
    path = tmp_path / "ft.jsonl"
    write_lines(path, [chat("a", "x"), chat("b", "y"), chat("c", "x"), chat("d", "y"),
                       {"messages": [{"role": "user", "content": "e"}]}])
    result = run_cli("train", "t", "--data", str(path), home=tmp_path / "home")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "line 5" in result.stderr and "no assistant message" in result.stderr, result.stderr
