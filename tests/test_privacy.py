"""Privacy building blocks: detection, where requests are scanned, redact -> restore (streams too)."""

from __future__ import annotations

import re

import logging

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rightmodel.privacy.config import BUILTIN_ENTITIES, PrivacyConfig, strictest
from rightmodel.privacy.entities import Entity
from rightmodel.privacy.redact import Redaction
from rightmodel.privacy.scan import TextField, text_fields
from rightmodel.privacy.stream import FrameRestorer


@pytest.fixture(scope="module")
def detector():
    from rightmodel.privacy.detector import Detector

    return Detector(PrivacyConfig(entities=list(BUILTIN_ENTITIES), custom=[
        {"type": "EMPLOYEE_ID", "patterns": [r"\bEMP-\d{6}\b"]},
        {"type": "PROJECT", "deny_list": ["Project Bluebird"]},
    ]))


def found(detector, text: str) -> list[tuple[str, str]]:
    return [(e.type, text[e.start:e.end]) for e in detector.detect(text)]


SAMPLES = [
    ("Write to maria.garcia@example.com today.", ("EMAIL_ADDRESS", "maria.garcia@example.com")),
    ("Call me on +1 415 555 0132 after six.", ("PHONE_NUMBER", "+1 415 555 0132")),
    ("Er ist unter 030 12345678 erreichbar.", ("PHONE_NUMBER", "030 12345678")),
    ("Rufen Sie 089/2900298 an.", ("PHONE_NUMBER", "089/2900298")),  # a slash, as German numbers are written
    ("tel:4155550132 or call 415.555.0132", ("PHONE_NUMBER", "415.555.0132")),
    ("GET /contact?tel=4155550132", ("PHONE_NUMBER", "4155550132")),  # a parameter's value, named a phone number
    ("Ring me on 0612.345678 tonight.", ("PHONE_NUMBER", "0612.345678")),  # one dot, but called a number to ring
    ("Card 4539 1488 0343 6467 was charged twice.", ("CREDIT_CARD", "4539 1488 0343 6467")),
    ("Pay to GB82 WEST 1234 5698 7654 32 please.", ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32")),
    ("My SSN is 219-09-9999.", ("US_SSN", "219-09-9999")),
    ("The host 203.0.113.77 keeps failing.", ("IP_ADDRESS", "203.0.113.77")),
    ("server 2001:db8::8a2e:370:7334 is down", ("IP_ADDRESS", "2001:db8::8a2e:370:7334")),
    ("Please ship it to Jürgen Müller in München.", ("PERSON", "Jürgen Müller")),
    ("Please ship it to Jürgen Müller in München.", ("LOCATION", "München")),
    ("Badge EMP-123456 was lost.", ("EMPLOYEE_ID", "EMP-123456")),
    ("Status of project bluebird?", ("PROJECT", "project bluebird")),
]


@pytest.mark.parametrize("text,expected", SAMPLES)
def test_detects_each_type(detector, text, expected):
    assert expected in found(detector, text)


@pytest.mark.parametrize("text,kinds", [
    ("Card 4539 1488 0343 6468 was charged twice.", {"CREDIT_CARD"}),  # fails the Luhn check
    ("Pay to GB82 WEST 1234 5698 7654 33 please.", {"IBAN_CODE"}),  # fails the IBAN checksum
    ("order 123456789 shipped on 2024-05-03, total $1,234.56", None),  # order number, date, amount
    ("Version 10.4.1 released on 03.05.2024 at 10:30.", None),
    # identifiers and timestamps that hold phone-shaped digit runs
    ('2024-12-23T06:30:41.613181+00:00 INFO api: GET /v1/orders/#4898015 200 2.87s', {"PHONE_NUMBER"}),
    ('{"order_id": "#6979615", "request_id": "15998809-627a-44ec-aa09-65cc29b37320"}', {"PHONE_NUMBER"}),
    ("Deploy 20251207.4 finished; invoice 2025/7438 is overdue.", {"PHONE_NUMBER"}),
    # numbers of technical prompts and exam questions: a parameter, periods, a decimal, bits, an amount
    ('What does "Strict-Transport-Security: max-age=31536000; includeSubDomains" do?', {"PHONE_NUMBER"}),
    ("The First Opium War of 1839-1842; the Postwar Era, 1945 - 1965.", {"PHONE_NUMBER"}),
    ("It sold 300.5849 gallons. A. 11111111, 00000001 B. 1001 0011 C. 1.6 1.0 0.25", {"PHONE_NUMBER"}),
    ("The surface area of Mars is about 145000000 square km.", {"PHONE_NUMBER"}),
    ("Invoice no. 2026-118 is overdue.", {"PHONE_NUMBER"}),
])
def test_lookalikes_are_not_flagged(detector, text, kinds):
    hits = found(detector, text)
    assert (hits == []) if kinds is None else not [h for h in hits if h[0] in kinds]


def test_an_email_containing_a_name_is_one_email(detector):
    assert found(detector, "Contact john.smith@example.org") == [("EMAIL_ADDRESS", "john.smith@example.org")]


def test_strictest_policy_wins():
    assert strictest("allow", "local-only") == "local-only"
    assert strictest("redact", None) == "redact"
    assert strictest("allow", "redact") == "redact"


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown entity type"):
        PrivacyConfig(entities=["EMAIL"])
    with pytest.raises(ValueError, match="does not compile"):
        PrivacyConfig(custom=[{"type": "X_ID", "patterns": ["("]}])
    with pytest.raises(ValueError, match="unknown region"):
        PrivacyConfig(phone_regions=["XX"])


# -- where requests are scanned -----------------------------------------------------------------


def test_scan_covers_every_place_text_can_leave(detector):
    body = {
        "model": "gpt-4o",
        "user": "maria.garcia@example.com",
        "metadata": {"ticket": "from 203.0.113.77"},
        "messages": [
            {"role": "system", "content": "Customer: Jürgen Müller"},
            {"role": "user", "content": [{"type": "text", "text": "mail john.doe@exa"}, {"type": "text", "text": "mple.com now"}]},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"ssn": "219-09-9999"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"iban": "GB82 WEST 1234 5698 7654 32"}'},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "looks up a customer"}}],
    }
    fields = text_fields(body)
    for f in fields:
        f.entities = detector.detect(f.text)
    hits = {(f.text[e.start:e.end]) for f in fields for e in f.entities}
    assert {"maria.garcia@example.com", "203.0.113.77", "Jürgen Müller", "john.doe@example.com", "219-09-9999",
            "GB82 WEST 1234 5698 7654 32"} <= hits
    scanned = [p for f in fields for p in f.paths]
    assert ("model",) not in scanned and ("messages", 0, "role") not in scanned  # replaced by the gateway; a schema enum
    # client-chosen ids and names are sent upstream: scanned (an e-mail used as an id must not slip through)
    assert ("messages", 3, "tool_call_id") in scanned and ("messages", 2, "tool_calls", 0, "id") in scanned


def test_a_value_split_across_parts_is_removed_from_both(detector):
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "mail john.doe@exa"}, {"type": "text", "text": "mple.com now"}]}]}
    fields = text_fields(body)
    for f in fields:
        f.entities = detector.detect(f.text)
    out = Redaction().apply(body, fields)
    parts = [p["text"] for p in out["messages"][0]["content"]]
    assert parts == ["mail <EMAIL_ADDRESS_1>", " now"]
    assert body["messages"][0]["content"][0]["text"] == "mail john.doe@exa"  # the client's body is untouched


def test_same_value_same_placeholder_across_turns():
    r = Redaction()
    assert r.placeholder("PERSON", "Ann Lee") == "<PERSON_1>"
    assert r.placeholder("PERSON", "Bo Chen") == "<PERSON_2>"
    assert r.placeholder("PERSON", "Ann Lee") == "<PERSON_1>"
    assert r.restore("<PERSON_2> met [PERSON_1] and PERSON_1; <PERSON_3> stays") == "Bo Chen met Ann Lee and Ann Lee; <PERSON_3> stays"


def test_tool_call_arguments_are_restored_as_valid_json():
    r = Redaction()
    ph = r.placeholder("PERSON", 'Ann "The Ace" Lee\\')
    payload = {"choices": [{"message": {"content": f"hi {ph}", "tool_calls": [{"function": {"name": "f", "arguments": orjson.dumps({"who": ph}).decode()}}]}}]}
    r.restore_completion(payload)
    message = payload["choices"][0]["message"]
    assert message["content"] == 'hi Ann "The Ace" Lee\\'
    assert orjson.loads(message["tool_calls"][0]["function"]["arguments"]) == {"who": 'Ann "The Ace" Lee\\'}


# -- properties ----------------------------------------------------------------------------------

PLAIN = st.text(alphabet=st.sampled_from(list("abcdefghij klmnop,.;:!?éü€😀中\n-'\"{}[]0123456789")), max_size=40)
VALUES = st.lists(
    st.tuples(st.sampled_from(["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "LOCATION"]),
              st.text(alphabet=st.sampled_from(list("ABCxyz@.+0123456789 üé")), min_size=1, max_size=20)),
    min_size=1, max_size=6,
)


def _build(plain: list[str], values: list[tuple[str, str]]) -> tuple[str, list[Entity]]:
    text, entities = "", []
    for i, (kind, value) in enumerate(values):
        text += plain[i % len(plain)] if plain else ""
        entities.append(Entity(len(text), len(text) + len(value), kind, 1.0, "test"))
        text += value
    return text + (plain[-1] if plain else ""), entities


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain=st.lists(PLAIN, min_size=1, max_size=7), values=VALUES, cuts=st.lists(st.integers(0, 400), max_size=5))
def test_redact_then_restore_is_identity(plain, values, cuts):
    text, entities = _build(plain, values)
    # the same text split into parts at arbitrary places (values may straddle parts)
    bounds = sorted({0, len(text), *[c % (len(text) + 1) for c in cuts]})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])] or [""]
    field = TextField([("p", i) for i in range(len(pieces))], pieces, entities)
    r = Redaction()
    redacted = "".join(r.redact_pieces(field))
    # Placeholders become a character no value holds, so a value found in what is left lies in
    # plain text (a placeholder's own digits, or a "<" read as a space, are not a leak).
    outside = re.sub(r"<[A-Z_]+_\d+>", "\x00", redacted)
    for _kind, value in values:
        if value.strip() and len(value) > 2:
            assert value not in outside or value in "".join(plain)
    assert r.restore(redacted) == text


@settings(max_examples=300, deadline=None)
@given(plain=st.lists(PLAIN, min_size=1, max_size=5), values=VALUES, sizes=st.lists(st.integers(1, 9), min_size=1, max_size=30))
def test_stream_restore_matches_whole_restore_for_any_chunking(plain, values, sizes):
    text, entities = _build(plain, values)
    r = Redaction()
    redacted = "".join(r.redact_pieces(TextField([("p",)], [text], entities)))
    chunks, pos, i = [], 0, 0
    while pos < len(redacted):
        n = sizes[i % len(sizes)]
        chunks.append(redacted[pos:pos + n])
        pos, i = pos + n, i + 1
    s = r.stream()
    assert "".join(s.feed(c) for c in chunks) + s.flush() == text


def test_frames_restore_content_and_tool_arguments_across_chunks():
    r = Redaction()
    ph = r.placeholder("EMAIL_ADDRESS", "a@b.co")
    fr = FrameRestorer(r)

    def frame(delta, finish=None):
        return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"

    out = [fr.frame(frame({"content": "mail " + ph[:5]})), fr.frame(frame({"content": ph[5:] + " ok"})),
           fr.frame(frame({"tool_calls": [{"index": 0, "function": {"arguments": '{"to": "' + ph[:9]}}]})),
           fr.frame(frame({}, finish="stop"))]
    deltas = [orjson.loads(o[6:])["choices"][0]["delta"] for o in out]
    assert "".join(d.get("content") or "" for d in deltas) == "mail a@b.co ok"
    args = "".join(c["function"]["arguments"] for d in deltas for c in d.get("tool_calls", []))
    assert args == '{"to": "' + ph[:9]  # an unfinished placeholder is given back as it came
    assert fr.frame(b"data: [DONE]\n\n") == b"data: [DONE]\n\n"


def test_log_lines_are_scrubbed(caplog, detector):
    from rightmodel.privacy.gate import PrivacyGate, ScrubbingFilter, readable_pattern

    gate = PrivacyGate.__new__(PrivacyGate)
    gate.config, gate.detector, gate._readable = PrivacyConfig(), detector, readable_pattern(())
    logger = logging.getLogger("rightmodel.test.scrub")
    logger.addFilter(ScrubbingFilter(gate))
    try:
        try:
            raise ValueError("bad value maria.garcia@example.com")
        except ValueError:
            logger.exception("failed for %s", "219-09-9999")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert "maria.garcia@example.com" not in text and "219-09-9999" not in text
    assert "<EMAIL_ADDRESS>" in text and "<US_SSN>" in text


def test_numpy_decoding_matches_spacys_own_ner(detector):
    """names.py replays spaCy's greedy NER decoding in numpy (spaCy's own loop cost ~40 µs a token
    here); it must give exactly spaCy's entities, or a spaCy upgrade broke an assumption."""
    import spacy

    reference = spacy.load(PrivacyConfig().ner_model, exclude=["tok2vec", "parser", "tagger", "attribute_ruler", "lemmatizer", "senter"])
    names = detector.names
    texts = [
        "Please ship it to Jürgen Müller in München, he called from Berlin yesterday.",
        "Dr. Wei Zhang and Priya Natarajan moved from Toronto to New York City last May.",
        "I watched it with Anna and her brother Tom in London; the US version is better than the one from France.",
        "  leading spaces, then Maria García Pérez from Sevilla.\n\nNext paragraph: Lars Ulrich of Denmark.",
        "no capitals at all here",
        "",
    ]
    for text in texts:
        doc = reference.make_doc(text)
        ours = [(doc[a].idx, doc[b - 1].idx + len(doc[b - 1]), label) for a, b, label in names.ner(doc)]
        theirs = [(e.start_char, e.end_char, e.label_) for e in reference(text).ents]
        assert ours == theirs, text


def test_the_trained_tagger_finds_names_spacy_misses(detector):
    from rightmodel.privacy.name_tagger import NameTagger

    tagger = NameTagger()
    for text, name in [("Please add Isabel Morales as a second cardholder.", "Isabel Morales"),
                       ("Thanks Darren Young, that solved it!", "Darren Young"),
                       ("I spoke with Joost de Bock from your team.", "Joost de Bock"),
                       ("Can you check why Katie Davies's card was blocked?", "Katie Davies")]:
        at = text.index(name)
        people = [e for e in detector.detect(text) if e.type == "PERSON"]
        assert any(e.start <= at and at + len(name) <= e.end for e in people), (text, people)  # the whole name is covered
        assert any(at < e.end and e.start < at + len(name) for e in tagger.find(text)), text
    import csv
    from pathlib import Path

    with open(Path(__file__).resolve().parents[1] / "datasets" / "banking77" / "test.csv", newline="", encoding="utf-8") as fh:
        questions = [r["text"] for r in csv.DictReader(fh)][:600]
    flagged = [q for q in questions if tagger.find(q)]
    assert len(flagged) <= 0.02 * len(questions), flagged  # measured: 0.5% (sentence-initial words, "Russian", "URGENT")


def test_the_tagger_trains_from_scratch(tmp_path):
    from rightmodel.privacy import train_names
    from rightmodel.privacy.name_tagger import NameTagger

    out = tmp_path / "tagger.npz"
    train_names.main(["--sentences", "3000", "--seeds", "7", "--out", str(out)])  # one seed: each costs ~50 s of L-BFGS here
    tagger = NameTagger(out)
    text = "My wife Ragnhild Jepsen cannot log in."
    assert [text[e.start:e.end] for e in tagger.find(text)] == ["Ragnhild Jepsen"]
