"""Privacy detection against hostile and careless input: normalisation, structure, splits, names
in any case, instruction prompts left alone, linear cost, readable logs (issue 16)."""

from __future__ import annotations

import base64
import re
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rightmodel.privacy.config import PrivacyConfig
from rightmodel.privacy.entities import Entity, resolve_overlaps
from rightmodel.privacy.normalize import normalise
from rightmodel.privacy.redact import copy_json
from rightmodel.privacy.scan import Key, text_fields


@pytest.fixture(scope="module")
def gate():
    from rightmodel.privacy.gate import PrivacyGate

    return PrivacyGate(PrivacyConfig(), endpoints=("https://api.openai.com/v1", "http://10.1.2.3:8080/v1"))


def outbound(gate, body: dict, policy: str = "redact") -> dict:
    inspection = gate.inspect(body, policy)
    return inspection.outbound(body)[0]


def strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")


def canonical(text: str) -> str:
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).lower()
    return re.sub(r"(?<=\w)[ .\-](?=\w)", "", text)


# -- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,seen", [
    ("card 4539\u200b1488\u00ad0343 6467", "card 453914880343 6467"),
    ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ", "jane@example.org"),
    ('{"n": "J\\u00fcrgen"}', '{"n": "Jürgen"}'),
    ("J%C3%BCrgen jane&#64;example.org", "Jürgen jane@example.org"),
    ("\\frac{a}{b} \\nabla", "\\frac{a}{b} \\nabla"),  # LaTeX is not JSON
])
def test_detection_reads_what_a_model_reads(raw, seen):
    assert normalise(raw).text == seen


def test_spans_map_back_to_the_characters_sent():
    raw = "x 4539\u200b1488 y J\\u00fcrgen"
    norm = normalise(raw)
    card = norm.text.index("45391488")
    assert raw[norm.start(card):norm.end(card + 8)] == "4539\u200b1488"
    name = norm.text.index("Jürgen")
    assert raw[norm.start(name):norm.end(name + 6)] == "J\\u00fcrgen"


def test_plain_text_is_not_copied():
    assert normalise("plain ascii text").identity and normalise("Jürgen Müller").identity


# -- structure -----------------------------------------------------------------------------------


def test_only_schema_words_are_skipped():
    body = {"model": "gpt-4o", "metadata": {"task": "t", "id": "x1", "type": "a@b.co", "role": "user"},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x.io/a.png", "detail": "low"}}]}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object", "properties": {"jane@x.org": {"type": "string"}}}}}}
    paths = {p for f in text_fields(body) for p in f.paths if not isinstance(p[-1], Key)}
    assert ("model",) not in paths and ("metadata", "task") not in paths  # replaced / removed by the gateway
    assert ("messages", 0, "role") not in paths and ("messages", 0, "content", 0, "type") not in paths  # enum words
    assert ("metadata", "role") not in paths  # "user" is a role word: it carries nothing
    assert {("metadata", "id"), ("metadata", "type"), ("messages", 0, "content", 1, "image_url", "url")} <= paths
    keys = {p[-1] for f in text_fields(body) for p in f.paths if isinstance(p[-1], Key)}
    assert keys == {"jane@x.org"}  # schema keys are structure; a property name is data


def test_binary_payloads_are_opaque_text_payloads_are_read():
    png = "data:image/png;base64," + base64.b64encode(bytes(range(256))).decode()
    text = "data:text/csv;base64," + base64.b64encode(b"name,email\nann,ann.lee@example.com\n" * 3).decode()
    body = {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": png}},
        {"type": "file", "file": {"file_data": text, "filename": "a.csv"}},
        {"type": "text", "text": "data: not a URL, mail ann.lee@example.com"}]}]}
    fields = {f.paths[0]: f for f in text_fields(body)}
    assert ("messages", 0, "content", 0, "image_url", "url") not in fields
    decoded = fields[("messages", 0, "content", 1, "file", "file_data")]
    assert "ann.lee@example.com" in decoded.text and decoded.encode is not None
    assert ("messages", 0, "content", 2, "text") in fields


def test_decoded_payloads_are_redacted_and_re_encoded(gate):
    text = "data:text/plain;base64," + base64.b64encode(b"contact ann.lee@example.com today").decode()  # short: a data URL still
    body = {"model": "m", "messages": [{"role": "user", "content": "see file"}], "metadata": {"attachment": text}}
    sent = outbound(gate, body)["metadata"]["attachment"]
    assert sent.startswith("data:text/plain;base64,")
    assert base64.b64decode(sent.split(",", 1)[1]).decode() == "contact <EMAIL_ADDRESS_1> today"


def test_keys_are_renamed_in_place_and_order_kept(gate):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"a": 1, "ann.lee@example.com": {"x": "ann.lee@example.com"}, "z": 2}}
    sent = outbound(gate, body)["metadata"]
    assert list(sent) == ["a", "<EMAIL_ADDRESS_1>", "z"] and sent["<EMAIL_ADDRESS_1>"] == {"x": "<EMAIL_ADDRESS_1>"}
    assert "ann.lee@example.com" in body["metadata"]  # the client's body is untouched


def test_values_split_across_messages_are_found_at_the_junction(gate):
    body = {"model": "m", "messages": [{"role": "user", "content": "ssn 219-09-"}, {"role": "user", "content": "9999 thanks"},
                                       {"role": "user", "content": "mail jane.roe@exa"}, {"role": "assistant", "content": "mple.org ok"},
                                       {"role": "user", "content": "hi"}, {"role": "user", "content": "ann.lee@example.com wrote"}]}
    inspection = gate.inspect(body, "redact")
    assert inspection.entities == {"US_SSN": 2, "EMAIL_ADDRESS": 3}
    sent = [m["content"] for m in inspection.outbound(body)[0]["messages"]]
    assert sent == ["ssn <US_SSN_1>", "<US_SSN_2> thanks", "mail <EMAIL_ADDRESS_1>", "<EMAIL_ADDRESS_2> ok",
                    "hi", "<EMAIL_ADDRESS_3> wrote"]  # a whole value after a word is not glued to it


def test_deep_nesting_never_recurses():
    deep: dict = {"v": "ann.lee@example.com"}
    for _ in range(5000):
        deep = {"k": deep}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": deep}
    assert [f.text for f in text_fields(body)][-1] == "ann.lee@example.com"
    copied = copy_json(body)["metadata"]
    for _ in range(5000):
        copied = copied["k"]
    assert copied == {"v": "ann.lee@example.com"} and copied is not deep


# -- cost ----------------------------------------------------------------------------------------


def test_overlap_resolution_is_linear():
    found = [Entity(i, i + 3, "PERSON", 0.8, "t") for i in range(0, 600_000, 2)]
    started = time.perf_counter()
    kept = resolve_overlaps(found)
    assert time.perf_counter() - started < 5  # pairwise: hours
    assert len(kept) == 150_000 and all(a.end <= b.start for a, b in zip(kept, kept[1:]))


def test_detection_time_grows_linearly(gate):
    detector = gate.detector
    unit = "John Smith met Anna at 10:30. Mail jsmith@example.com, card 4539 1488 0343 6467. "
    timings = {}
    for kb in (16, 256):
        text = (unit * (kb * 1024 // len(unit) + 1))[: kb * 1024]
        detector.detect(text[:2000])  # warm caches
        started = time.perf_counter()
        found = detector.detect(text)
        timings[kb] = (time.perf_counter() - started) / kb
        assert len([e for e in found if e.type == "EMAIL_ADDRESS"]) >= kb * 1024 // len(unit)
    assert timings[256] < 4 * timings[16] + 1e-3, timings  # per KB; quadratic would be 16x


# -- names and instructions ----------------------------------------------------------------------


@pytest.mark.parametrize("text,name", [
    ("hi this is isabel morales, my card was declined", "isabel morales"),
    ("pls call john smith back", "john smith"),
    ("Please add Isabel M Morales as a second cardholder.", "Isabel M Morales"),
    ("Dear Ms Kowalczyk, your refund is on its way.", "Kowalczyk"),
    ("Thanks Priya, that fixed it!", "Priya"),
    ('{"customer": "J\\u00fcrgen M\\u00fcller", "plan": "gold"}', "J\\u00fcrgen M\\u00fcller"),
])
def test_names_in_any_case_and_shape(gate, text, name):
    at = text.index(name)
    people = [e for e in gate.detector.detect(text) if e.type == "PERSON"]
    covered = set()
    for e in people:
        covered |= set(range(e.start, e.end))
    assert {i for i in range(at, at + len(name)) if text[i].isalnum()} <= covered, (text, people)


INSTRUCTIONS = [
    "Classify the following review as positive, negative or neutral.", "Summarize the article below in three bullet points.",
    "Answer the question using only the context provided.", "Generate a JSON object with the fields title and tags.",
    "Translate the text into French, keeping the formatting.", "Extract every date and amount from the invoice.",
    "Rewrite this paragraph for a ten-year-old reader.", "Discipline: Animation. Unlike live action, list the main steps.",
    "You are a helpful assistant. Respond in Markdown.", "Identify the intent of the customer message and return only the label.",
]


def test_instruction_prompts_are_not_altered(gate):
    altered = [p for p in INSTRUCTIONS if gate.detector.detect(p)]
    assert altered == []


def test_strict_counts_what_the_tagger_half_believes(gate):
    # Given names that are also words, in thin contexts: the tagger doubts some of them.
    texts = [frame.format(word) for word in ("Sage", "River", "Hope", "Summer", "Faith", "Grant", "Chase", "Hunter", "Carmel")
             for frame in ("Give {} the keys", "Ask {} about it", "thanks {}", "Notes from {} on the outage", "cc {}")]
    widened = [t for t in texts if not gate.detector.detect(t) and gate.detector.detect(t, unsure=True)]
    assert widened, "none of these ambiguous texts is a doubtful name any more: pick others"
    body = {"model": "m", "messages": [{"role": "user", "content": widened[0]}]}
    assert gate.inspect(body, "local-only", strict=True).local_only  # strict: kept local
    assert not gate.inspect(body, "local-only", strict=False).sensitive  # not strict: a doubt is not a finding
    assert not gate.inspect(body, "redact", strict=True).redacts  # redact never acts on a doubt (no garbling)


# -- property: no leak whatever the client does to a value ---------------------------------------

VALUES = ["jane.roe@example.org", "4539 1488 0343 6467", "219-09-9999", "GB82 WEST 1234 5698 7654 32", "Isabel Morales"]


@st.composite
def mangled(draw):
    value = draw(st.sampled_from(VALUES))
    case = draw(st.sampled_from(["same", "lower", "upper"]))
    value = {"same": value, "lower": value.lower(), "upper": value.upper()}[case]
    chars = list(value)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(1, len(chars) - 1))
        chars.insert(at, draw(st.sampled_from(["\u200b", "\u00ad", "\u2060", "\ufeff"])))
    value = "".join(chars)
    split = draw(st.none() | st.integers(1, len(value) - 1))
    return value, split


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mangled(), prefix=st.sampled_from(["Please update my record: ", "my details are ", "Note - "]))
def test_no_value_leaks_however_it_is_written(gate, case, prefix):
    value, split = case
    if split is None:
        messages = [{"role": "user", "content": f"{prefix}{value} thanks"}]
    else:
        messages = [{"role": "user", "content": prefix + value[:split]}, {"role": "user", "content": value[split:] + " thanks"}]
    body = {"model": "m", "messages": messages}
    sent = canonical("".join(strings(outbound(gate, body)["messages"])))
    assert canonical(value) not in sent, (value, split, sent)
    local = gate.inspect(body, "local-only")
    assert local.local_only  # kept local: never sent


# -- logs stay readable --------------------------------------------------------------------------


def test_log_scrubbing_keeps_what_operators_read(gate):
    log = ('upstream http://127.0.0.1:8123/v1 answered 503 for Isabel Morales (isabel@example.com)\n'
           'Traceback (most recent call last):\n'
           '  File "/srv/rightmodel/gateway/chat.py", line 212, in handle_chat\n'
           '    result = await backend.chat(body)\n'
           'ConnectionRefusedError: [Errno 111] Connect call failed; code ECONNREFUSED, HTTP 502 from https://api.openai.com/v1 '
           'after BUDGET_EXCEEDED')
    out = gate.scrub(log)
    for kept in ('File "/srv/rightmodel/gateway/chat.py", line 212, in handle_chat', "result = await backend.chat(body)",
                 "http://127.0.0.1:8123/v1", "https://api.openai.com/v1", "ConnectionRefusedError", "[Errno 111]", "ECONNREFUSED",
                 "HTTP 502", "BUDGET_EXCEEDED", "Traceback (most recent call last)"):
        assert kept in out, kept
    assert "isabel@example.com" not in out and "Morales" not in out


def test_long_texts_are_read_in_chunks_and_stop_when_told(gate):
    from rightmodel.bounds import WorkCancelled
    from rightmodel.privacy.detector import CHUNK_CHARS

    filler = "The weather was fine and the train was on time. " * (CHUNK_CHARS // 48)
    text = filler[: CHUNK_CHARS - 10] + " write to jane.roe@example.org " + filler  # the address straddles a chunk boundary
    found = gate.detector.detect(text)
    at = text.index("jane.roe@example.org")
    assert [(e.start, e.end) for e in found if e.type == "EMAIL_ADDRESS"] == [(at, at + 20)]
    calls = []
    with pytest.raises(WorkCancelled):
        gate.detector.detect(text, cancelled=lambda: calls.append(1) or len(calls) > 1)
    with pytest.raises(WorkCancelled):
        gate.inspect({"model": "m", "messages": [{"role": "user", "content": text}]}, "redact", cancelled=lambda: True)


def test_chunked_detection_finds_what_one_pass_finds(gate, monkeypatch):
    """Seams must not change the answer: a name or value near one is judged with context on both sides."""
    import random

    from rightmodel.privacy import detector as det

    rng = random.Random(7)
    parts = ["John Smith met Anna. ", "write to jane.roe@example.org now. ", "card 4111 1111 1111 1111 ok. ",
             "The weather was fine. ", "IBAN DE89370400440532013000 here. ", "Maria Garcia-Lopez said hi. "]
    for chunk in (600, 1000, 1500):
        text = "".join(rng.choice(parts) for _ in range(300))
        monkeypatch.setattr(det, "CHUNK_CHARS", 10**9)
        whole = [(e.start, e.end, e.type) for e in gate.detector.detect(text)]
        monkeypatch.setattr(det, "CHUNK_CHARS", chunk)
        pieces = gate.detector.detect(text)
        assert all(a.end <= b.start for a, b in zip(pieces, pieces[1:]))
        assert [(e.start, e.end, e.type) for e in pieces] == whole, chunk


def test_the_vectorised_tagger_scores_what_training_hashes(gate):
    """Inference gathers cached group sums by integer codes (name_scoring.py); training hashes each
    candidate's feature strings (train_names.py). Both must give the same probabilities."""
    import numpy as np
    from sklearn.feature_extraction import FeatureHasher

    from rightmodel.privacy import name_tagger as nt

    tagger = gate.detector.tagger
    hasher = FeatureHasher(n_features=nt.N_FEATURES, input_type="string", alternate_sign=False)

    def reference(text: str) -> np.ndarray:
        _, words, infos = nt.analyse(text, tagger.gazetteer)
        cands = nt.candidates_of(infos)
        rows = [nt.features(words, infos, i, tagger.info) for i in cands]
        first = nt.sigmoid(hasher.transform(rows) @ tagger.first.weights.astype(np.float64) + tagger.first.bias)
        near = nt.neighbour_buckets(len(words), dict(zip(cands, first.tolist())))
        rows2 = [r + nt.neighbour_features(tuple(near[i:i + 5])) for r, i in zip(rows, cands)]
        return nt.sigmoid(hasher.transform(rows2) @ tagger.second.weights.astype(np.float64) + tagger.second.bias)

    for text in ["Dear Ms Kowalczyk, thanks for the call with Isabel M Morales and john smith.",
                 "Classify the following review. A. True\nB. False", "hi its sorawut, pls call tina h pitts asap!"]:
        _, words, infos = nt.analyse(text, tagger.gazetteer)
        cands = nt.candidates_of(infos)
        assert np.allclose(tagger.probabilities(words, infos, cands), reference(text), atol=1e-5)


@pytest.mark.parametrize("min_score", [0.0, 0.4, 0.5])
def test_the_phone_screen_never_drops_what_libphonenumber_keeps(monkeypatch, min_score):
    """phone_filter answers "no" only where parse()/is_valid_number() would: same findings with and
    without it, over digit runs of every length and shape, in and out of context."""
    import random

    from rightmodel.privacy import patterns
    from rightmodel.privacy.config import DEFAULT_PHONE_REGIONS

    rng = random.Random(11)

    def number() -> str:
        d = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 16)))
        return rng.choice([d, d, "+" + d, "00" + d, "0" + d, "1" + d, f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:4]} {d[4:]}"])

    words = ["call me at ", "order ", "", "", "phone: ", "ref ", "my number is ", "Téléphone "]
    text = "\n".join(rng.choice(words) + number() + rng.choice([" thanks", ",", "", " x12"]) for _ in range(1500))

    def found() -> list[tuple[int, int, float]]:
        patterns._parsed.cache_clear()  # each run asks libphonenumber afresh
        return [(e.start, e.end, e.score) for e in patterns.phones(text, DEFAULT_PHONE_REGIONS, None, min_score) if e.score >= min_score]

    screened = found()

    class NoScreen:
        def may_match(self, digits: str, need_possible: bool) -> bool:
            return True

        def exact(self, digits: str) -> None:
            return None  # never sure: libphonenumber answers every time

    monkeypatch.setattr(patterns, "region_filters", lambda regions: tuple(NoScreen() for _ in regions))
    assert screened == found()
    assert len(screened) > 500


def test_the_exact_phone_verdict_is_libphonenumbers_own():
    """RegionFilter.exact answers (valid, possible) from the metadata without parsing: wherever it
    answers, parse() then is_valid_number() / is_possible_number() must say the same, in every
    region libphonenumber knows (one country code for many regions: NANPA, +44, +7, +61...), for
    random runs and for real numbers of each type with a digit changed, written plain or with
    the separators patterns.py lets through to it."""
    import random

    import phonenumbers

    from rightmodel.privacy.phone_filter import RegionFilter

    rng = random.Random(5)
    answered = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        screen = RegionFilter(region)
        for _ in range(60):
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 17)))
            example = phonenumbers.example_number_for_type(region, rng.randrange(11))
            if example is not None and rng.random() < 0.6:
                digits = phonenumbers.national_significant_number(example)
                if rng.random() < 0.5:
                    i = rng.randrange(len(digits))
                    digits = digits[:i] + rng.choice("0123456789") + digits[i + 1:]
            known = screen.exact(digits)
            if known is None:
                continue
            answered += 1
            written = rng.choice([digits, f"({digits[:3]}) {digits[3:]}", f"{digits[:2]}-{digits[2:]}", f"{digits[:3]}.{digits[3:]}",
                                  f"{digits[:4]}/{digits[4:]}"])
            parsed = phonenumbers.parse(written, region)
            assert known == (phonenumbers.is_valid_number(parsed), phonenumbers.is_possible_number(parsed)), (region, written)
    assert answered > 8000  # most runs need no parse at all


def test_context_read_backwards_is_the_forward_phrase():
    """patterns.py asks whether a phrase ends where a window ends by matching the reversed phrase
    on the reversed window: the same answer as searching the phrase forwards, anchored at "$"."""
    import random

    from rightmodel.privacy import patterns

    forward = {patterns._ID_CONTEXT_BEFORE: re.compile(r"(?:" + patterns._ID_WORDS + r")\W{0,3}(?:\w+\W{1,3})?$", re.IGNORECASE),
               patterns._PHONE_CONTEXT_BEFORE: re.compile(r"(?:" + patterns._CONTEXT_WORDS + r")\W{0,5}(?:\w+\W{1,5}){0,3}$",
                                                          re.IGNORECASE)}
    rng = random.Random(3)
    pieces = ["order", "Order", "ORDER#", "no.", "id", "phone", "Tel:", "call me", "my number", "his  number", "Téléphone",
              "☎", "ref", "re", "f", "x", "12", "border", "telephone", " ", "  ", ": ", "-", "\n", ", ", "(", ")", "é", "ß", "ABC"]
    seen = {True: 0, False: 0}
    for _ in range(20000):
        window = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))[-rng.randint(1, 40):]
        for backwards, ahead in forward.items():
            want = ahead.search(window) is not None
            assert (backwards.match(window[::-1]) is not None) == want, (backwards.pattern[:20], window)
            seen[want] += 1
    assert min(seen.values()) > 5000


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.sampled_from(list("ab \\%&;#xu0e9nE") + ["\u0301", "\u0327", "é", "ß", "ﬁ", "Ｊ", "\u200b", "\\u00e9",
                                                              "%C3%A9", "&#64;", "&amp;", "Ω", "가"]), max_size=30).map("".join))
def test_text_already_in_nfkc_skips_the_per_character_walk_with_the_same_result(text):
    """normalize.py reads a text already in NFKC for escapes and invisible characters only: the
    same normalised text and the same way back as the full walk gives."""
    from rightmodel.privacy import normalize

    fast = normalize.normalise(text)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(normalize, "_ESCAPES_ONLY", normalize._SPECIAL)
        full = normalize.normalise(text)
    assert fast.text == full.text
    def back(norm: normalize.Normalised) -> list[tuple[int, int]]:
        return [(norm.start(i), norm.end(i + 1)) for i in range(len(norm.text))]

    assert back(fast) == back(full)


def test_a_backslash_before_combining_marks_is_read_not_a_crash():
    from rightmodel.privacy.normalize import normalise

    text = "path C:\\\u0301x and jane@example.org"
    norm = normalise(text)
    assert norm.text.endswith("jane@example.org")


def test_a_phone_verdict_does_not_depend_on_the_order_regions_are_asked_in():
    """phones() asks first the region that last found a number valid: sound only if the verdict
    (valid somewhere, else possible somewhere) is the same in any order."""
    import random

    from rightmodel.privacy import patterns
    from rightmodel.privacy.config import DEFAULT_PHONE_REGIONS

    rng = random.Random(3)
    regions = tuple(DEFAULT_PHONE_REGIONS)
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(7, 15)))
        written = rng.choice([digits, "0" + digits[1:], f"{digits[:3]} {digits[3:]}"])
        plain = written if written.isdigit() else None
        need_possible = rng.random() < 0.5
        order = patterns._RegionOrder(len(regions))
        rng.shuffle(order.indices)
        assert patterns._verdict(written, plain or digits.replace(" ", ""), regions, False, need_possible, order) \
            == patterns._verdict(written, plain or digits.replace(" ", ""), regions, False, need_possible), written


def test_token_starts_are_where_the_tokens_are():
    from rightmodel.privacy.name_tagger import TOKEN, tokens

    text = "Anna's order 12,3.4 went to  J. R. Tolkien\n\n— done; mit Müller-Lüdenscheidt’s “quote”"
    starts, words = tokens(text)
    expected = [m.start() for m in TOKEN.finditer(text)]
    assert [starts[i] for i in reversed(range(len(words)))] == expected[::-1]  # asked out of order too
    assert [text[starts[i]:starts[i] + len(w)] for i, w in enumerate(words)] == words
