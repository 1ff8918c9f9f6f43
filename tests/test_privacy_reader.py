"""The second name reader (name_reader.py) and the other-language rule (foreign_text.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rightmodel.privacy.config import PrivacyConfig
from rightmodel.privacy.detector import Detector
from rightmodel.privacy.foreign_text import foreign_sentences
from rightmodel.privacy.name_tagger import PARTICLES


@pytest.fixture(scope="module")
def with_reader() -> Detector:
    return Detector(PrivacyConfig())


@pytest.fixture(scope="module")
def tagger_only() -> Detector:
    return Detector(PrivacyConfig(name_reader=False))


def persons(detector: Detector, text: str) -> list[str]:
    return [text[e.start:e.end] for e in detector.detect(text) if e.type == "PERSON"]


@pytest.mark.parametrize("text, foreign", [
    ("Je suis allé au magasin et j'ai acheté des pommes .", True),
    ("Ich nutze ein Tablet mit der neuesten Version , bitte helfen Sie mir .", True),
    ("Si no está en casa , el repartidor dejará un aviso .", True),
    ("My name is Liza van der Brink and I live in Utrecht .", False),  # particles are no evidence
    ("please ask maria de la cruz to call me back .", False),
    ("The meeting with the team is at noon .", False),
])
def test_a_sentence_is_another_languages_by_its_stop_words(text, foreign) -> None:
    lows = text.lower().split()
    assert bool(foreign_sentences(lows, PARTICLES)) is foreign


def test_sentences_are_judged_one_by_one() -> None:
    lows = 'translate this : " je suis allé au magasin et j\'ai acheté des pommes . " thanks a lot'.split()
    ranges = foreign_sentences(lows, PARTICLES)
    assert len(ranges) == 1
    first, last = ranges[0]
    assert lows[first:last][:2] == ["je", "suis"] and "translate" not in lows[first:last] and "thanks" not in lows[first:last]


@pytest.mark.parametrize("text", [
    'Correct the following French sentence: "Je suis allé au magasin et j\'ai acheté des pommes qui était très bon."',
    'Translate from Spanish to English: "El pedido llegará entre el martes y el jueves. Si no está en casa, el repartidor dejará un aviso."',
    'Translate this Portuguese customer message to English: "Olá, comprei um aspirador na semana passada e ele já parou de funcionar."',
])
def test_words_of_another_language_are_not_names(tagger_only, with_reader, text) -> None:
    assert persons(tagger_only, text) == []
    assert persons(with_reader, text) == []


@pytest.mark.parametrize("text", [
    "the name on the card is lina hofstetter",
    "C/O clara caceres, po box 4410, windhoek",
    "triage note: devika, 7 y/o, fell off the trampoline",
    "alumni update: les l shewbridge has moved to montreal",
    "hi mia jazmin, lovely to meet you at the conference",
])
def test_english_text_with_a_few_foreign_looking_words_keeps_its_names(tagger_only, monkeypatch, text) -> None:
    """Single letters ("y/o", "C/O"), particles and a name that is some language's stop word
    ("les", "mia") are no evidence of another language: the rule changes nothing here."""
    import rightmodel.privacy.name_tagger as name_tagger

    with_rule = persons(tagger_only, text)
    assert with_rule
    monkeypatch.setattr(name_tagger, "_not_foreign", lambda infos, candidates: candidates)
    assert persons(tagger_only, text + " ") == with_rule


def test_the_reader_is_on_by_default_and_can_be_turned_off(with_reader, tagger_only) -> None:
    assert with_reader.tagger.reader is not None
    assert tagger_only.tagger.reader is None


def test_the_reader_scores_a_name_above_a_word(with_reader) -> None:
    text = "The budget was approved by Watt yesterday."
    reader = with_reader.tagger.reader
    watt = text.index("Watt")
    budget = text.index("budget")
    [[p_name, p_word]] = reader.probabilities(text, [(0, len(text))], [[(watt, watt + 4), (budget, budget + 6)]])
    assert p_name > 0.5 > p_word


def _count_rows(reader, monkeypatch) -> list[int]:
    rows: list[int] = []
    real_run = reader.session.run

    def counting_run(names, feeds):
        rows.append(feeds["input_ids"].shape[0])
        return real_run(names, feeds)

    monkeypatch.setattr(reader, "session", type("Session", (), {"run": staticmethod(counting_run)})())
    return rows


def test_the_tagger_has_read_what_its_budget_grants(with_reader, monkeypatch) -> None:
    from rightmodel.privacy.name_reader import ReadingBudget

    rows = _count_rows(with_reader.tagger.reader, monkeypatch)
    text = "\n\n".join(f"Note {k}: all questions about this part of the budget go to Véronique." for k in range(10))
    budget = ReadingBudget(3)
    with_reader.tagger.find(text, budget=budget)
    assert sum(rows) == 3 and budget.windows == 0
    with_reader.tagger.find(text, budget=budget)
    assert sum(rows) == 3
    with_reader.tagger.find(text)  # a fresh budget
    assert sum(rows) == 3 + 10


def test_one_request_reads_a_bounded_number_of_windows_however_many_fields_it_has(monkeypatch) -> None:
    """Ten thousand doubtful names in many messages, or in one long one, cost the reader at most
    MAX_WINDOWS windows per request: its work per request is bounded, not just linear."""
    from rightmodel.privacy.gate import PrivacyGate
    from rightmodel.privacy.name_reader import MAX_WINDOWS

    gate = PrivacyGate(PrivacyConfig())
    rows = _count_rows(gate.detector.tagger.reader, monkeypatch)
    line = "Questions go to Véronique."
    many = {"model": "m", "messages": [{"role": "user", "content": f"{line} ({k})"} for k in range(300)]}
    gate.inspect(many, "redact")
    assert 0 < sum(rows) <= MAX_WINDOWS
    rows.clear()
    gate.inspect({"model": "m", "messages": [{"role": "user", "content": " ".join([line] * 12000)}]}, "redact")
    assert 0 < sum(rows) <= MAX_WINDOWS


def test_windows_of_any_length_are_batched_without_error(with_reader) -> None:
    reader = with_reader.tagger.reader
    text = "word " * 400 + "Anna"
    windows = [(0, len(text)), (len(text) - 20, len(text)), (0, 0)]
    scores = reader.probabilities(text, windows, [[(len(text) - 4, len(text))], [(len(text) - 4, len(text))], [(0, 0)]])
    assert np.isnan(scores[0][0])  # "Anna" lies past the window's MAX_PIECES: not read, no verdict
    assert 0.0 <= scores[1][0] <= 1.0 and np.isnan(scores[2][0])


@pytest.mark.parametrize("text, name", [
    ("Questions go to Leocadia.", "Leocadia"),  # ("Véronique", a top given name, is found without the reader since GIVEN_NAME_FLOOR)
    ("Questions about the budget go to Oyelaran.", "Oyelaran"),
])
def test_the_reader_finds_names_the_tagger_doubts(tagger_only, with_reader, text, name) -> None:
    assert persons(tagger_only, text) == []
    assert persons(with_reader, text) == [name]


def test_the_reader_overrules_a_word_the_tagger_takes_for_a_name(tagger_only, with_reader) -> None:
    text = "Convert 72 degrees Fahrenheit to Celsius and explain the formula."
    assert persons(tagger_only, text) == ["Celsius"]
    assert persons(with_reader, text) == []


def test_names_the_tagger_is_sure_of_are_not_read_again(with_reader, monkeypatch) -> None:
    reader = with_reader.tagger.reader
    read: list[str] = []
    real = reader.probabilities
    monkeypatch.setattr(reader, "probabilities", lambda text, windows, targets: read.append(text) or real(text, windows, targets))
    text = "My wife Ragnhild Jepsen cannot log in."
    assert persons(with_reader, text) == ["Ragnhild Jepsen"]
    assert read == []


def test_strict_mode_still_counts_a_vetoed_word_as_unsure(with_reader) -> None:
    """A veto drops a word below the threshold, not out of sight: strict local-only requests still
    treat it as a possible name."""
    text = "Convert 72 degrees Fahrenheit to Celsius and explain the formula."
    unsure = [text[e.start:e.end] for e in with_reader.detect(text, unsure=True) if e.type == "PERSON"]
    assert "Celsius" in unsure


def test_the_reader_trains_and_exports(tmp_path) -> None:
    pytest.importorskip("torch")
    from rightmodel.privacy import train_reader
    from rightmodel.privacy.name_reader import NameReader

    out = tmp_path / "reader.onnx"
    train_reader.main(["--texts", "640", "--layers", "1", "--batch", "16", "--lr", "3e-4", "--out", str(out)])
    reader = NameReader(out, tmp_path / "name_reader_tokenizer.json")
    text = "My wife Ragnhild Jepsen cannot log in."
    start = text.index("Ragnhild")
    [[p_name, p_word]] = reader.probabilities(text, [(0, len(text))], [[(start, start + 8), (3, 7)]])
    assert p_name > p_word


def test_a_greeting_that_opens_a_sentence_of_another_language_is_no_candidate(tagger_only) -> None:
    """Whatever its case: the rule runs whenever there are candidates, not only lower-case ones."""
    from rightmodel.privacy.name_tagger import _not_foreign, analyse

    text = "Bonjour, je vous écris pour une question sur la facture."
    _, words, infos = analyse(text, tagger_only.tagger.gazetteer)
    assert _not_foreign(infos, [0]) == []  # "Bonjour" alone
    english = "Anna, je vous écris."  # two French stop words: not another language's sentence
    _, words, infos = analyse(english, tagger_only.tagger.gazetteer)
    assert _not_foreign(infos, [0]) == [0]


@pytest.mark.parametrize("text", [
    "Refund to IBAN PT71628681327525220152403, reference 4471.",
    '{"payout": {"iban": "SA0657410282468531223103", "currency": "SAR"}}',
    "How do I configure the rate limiter with RATE_LIMIT_RPS and RATE_LIMIT_BURST?",
    "ive asked the landlord already and she said no",
    '- "k see u tmrw"',
    "omw, see u tmrw",
    "[7:02 PM] omw, np",
    "set TOKEN=abcxyzq in the env",  # a word in no list, glued into code: no rare name
])
def test_labels_identifiers_and_chat_shorthand_are_not_names(tagger_only, with_reader, text) -> None:
    assert persons(tagger_only, text) == []
    assert persons(with_reader, text) == []


def test_never_names_stay_candidates_but_are_no_name_nor_part_of_one(tagger_only) -> None:
    """The rule zeroes a label word's score after both passes, so its neighbours score as the
    tagger trained ("ip" stays a candidate whose first-pass belief the second pass reads), and a
    found name does not grow over it."""
    from rightmodel.privacy.name_tagger import analyse, candidates_of, never_names

    text = "Customer anna kowalski, ip 10.0.0.7, asked idk"
    _, words, infos = analyse(text, tagger_only.tagger.gazetteer)
    candidates = candidates_of(infos)
    assert [words[i] for i in never_names(infos, candidates)] == ["ip", "idk"]
    assert persons(tagger_only, text) == ["anna kowalski"]  # not "anna kowalski, ip" (an inverted "Last, First")


def test_courtesy_titles_are_not_read_again(with_reader, monkeypatch) -> None:
    reader = with_reader.tagger.reader
    read: list[list[str]] = []
    real = reader.probabilities

    def spy(text, windows, targets):
        read.append([text[a:b] for spans in targets for a, b in spans])
        return real(text, windows, targets)

    monkeypatch.setattr(reader, "probabilities", spy)
    with_reader.detect("Sehr geehrte Frau Oyelaran, Mme Véronique and Herr Uphus are copied.")
    assert not any(word.rstrip(".") in ("Frau", "Mme", "Herr") for words in read for word in words)
