"""The PERSON tagger on words that are not names (issue 16: PII-free prompts must not be altered)
and on name shapes it used to miss. Real shipped weights and gazetteer; no stand-ins.

The texts here were written for this test: none comes from bench/privacy (its instruction prompts,
MMLU questions or labelled sets), so passing says nothing about the bench's numbers by construction.
"""

from __future__ import annotations

import pytest

from rightmodel.privacy.config import PrivacyConfig


@pytest.fixture(scope="module")
def detector():
    from rightmodel.privacy.detector import Detector

    return Detector(PrivacyConfig())


@pytest.fixture(scope="module")
def gazetteer():
    from rightmodel.privacy.gazetteer import Gazetteer

    return Gazetteer()


def people(detector, text: str) -> list[str]:
    return [text[e.start:e.end] for e in detector.detect(text) if e.type == "PERSON"]


def test_dictionary_words_are_flagged_and_names_are_not(gazetteer):
    # (given-name class, surname class, common word, cluster, dictionary word)
    for word in ("osmosis", "Leasehold", "Sonnet", "assignee", "Catalyst"):
        assert gazetteer.classes(word)[4], word
    for word in ("renders", "Bales", "studied", "wrapping"):  # inflected forms count through their stem
        assert gazetteer.classes(word)[4], word
    for word in ("Jepsen", "Swickheimer", "Ragnhild", "Oyelaran"):  # ("Morales" is flagged: morale + s)
        assert not gazetteer.classes(word)[4], word
    first, last, *_ = gazetteer.classes("Isabel")
    assert first > 0  # the name classes are what they were


@pytest.mark.parametrize("text", [
    "Explain Osmosis to a ten-year-old in three sentences.",
    "Rewrite this heading in sentence case: Quarterly Revenue Outlook",
    "- Catalyst\n- Enzyme\n- Substrate\nWhich of these is consumed by the reaction?",
    "Convert this YAML to TOML and keep the comments.",
    "Summarise the leasehold terms below for the tenant, in plain words.",
    # "Ram" and "Erp" are a given name and a surname somewhere; alone in capitals they are acronyms
    "Explain the difference between RAM and a disk cache.",
    "We need three ERP quotes by the end of the month.",
    "The shop is open Mon-Fri and closed on Sundays.",
    "Compare the figures for Jan-Mar with last year's.",
    "Blood pressure 100/60 mm Hg supine and 80/50 mm Hg standing.",  # a unit of two words
    # the same places with the word meant as a word
    "we walked on with grace and hope",
    "thanks will do, see you monday",
])
def test_capitalised_vocabulary_in_prompts_is_not_a_name(detector, text):
    assert people(detector, text) == []


@pytest.mark.parametrize("text, name", [
    ("please ask tina h. pitts to sign the form", "tina h. pitts"),
    ("Reviewer: Ragnhild Jepsen", "Ragnhild Jepsen"),
    ("can you add isabel morales to the invoice?", "isabel morales"),
    ("Dear Mr. Oyelaran, your refund was sent.", "Oyelaran"),
    ("hey IAN, the invoice is attached", "IAN"),
    ("Dear ANA, thanks for the quick reply.", "ANA"),
    ("the form was signed by ANA yesterday", "ANA"),
    ("Signed for by JO KIM at the door.", "JO KIM"),
    ("please ask MORALES about the refund", "MORALES"),
    # in lower case: a word no name list, dictionary or frequent-word list holds may be a rare name
    ("thanks, ellingsworth", "ellingsworth"),
    ("my landlord adeyemi-brown never replied", "adeyemi-brown"),
    ("member: jane okonkwo-bright", "jane okonkwo-bright"),
    ("policy holder: mary ellingsworth", "mary ellingsworth"),
    # a top given name that is also a word, in lower case where a person is addressed or spoken with
    ("spoke with kelly, not interested right now", "kelly"),
    ("thanks rose, see you on monday", "rose"),
    ("hi, bob here again about the refund", "bob"),  # ...across a comma
    ("cheers, rose", "rose"),
])
def test_names_in_several_shapes_are_covered(detector, text, name):
    at = text.index(name)
    found = [e for e in detector.detect(text) if e.type == "PERSON"]
    letters = [i for i in range(at, at + len(name)) if text[i].isalnum()]
    assert all(any(e.start <= i < e.end for e in found) for i in letters), (text, people(detector, text))


def test_a_name_found_once_is_found_wherever_it_recurs(detector):
    """A name redacted in one place and sent verbatim in another leaks: every recurrence, in any
    case or shape, is covered once one occurrence is found."""
    text = "Ticket from Oyelaran Adebayo-Kuti. Later: adebayo-kuti says the refund never came; please call Mr Oyelaran."
    found = people(detector, text)
    assert "Oyelaran Adebayo-Kuti" in found
    assert "adebayo-kuti" in found and "Oyelaran" in [f.split()[-1] for f in found[1:]]


def test_a_recurring_dictionary_word_is_not_taken_for_the_name_it_was_part_of(detector):
    # "Rose Green" is a name; "green" in lower case and "Green" opening a sentence are words.
    text = "Rose Green called about her order. Green means the parcel left; the green button confirms it."
    found = people(detector, text)
    assert "Rose Green" in found
    assert all(f.lower() != "green" for f in found), found


def test_looking_back_from_a_recurrence_costs_the_same_in_any_text():
    """Each recurrence of a name that is also a word asks whether it opens a sentence: looking back
    must read the few characters before it, not copy the whole text before it (that made 1 MB of
    names take 4.7 s). Copying 8 MB 200 times takes ~0.5 s; reading back a few characters, ~0.1 ms."""
    import time

    from rightmodel.privacy.name_repeats import _opens_sentence

    text = "x " * 4_000_000 + "Later we met Green there."
    at = text.index("Green")
    started = time.perf_counter()
    answers = {_opens_sentence(text, at) for _ in range(200)}
    assert time.perf_counter() - started < 0.05
    assert answers == {False} and _opens_sentence("Done. Green", 6) and _opens_sentence("Green", 0)


@pytest.mark.parametrize("text, name", [
    ("Original payment by bin Rashidi on Monday.", "bin Rashidi"),  # a surname's particle
    ("Maintainer: de Vaucelles", "de Vaucelles"),
    ("Photos from Emory Walwyn arrived this morning.", "Emory Walwyn"),  # an unlisted given name before a found surname
    ("Adjuster on file: Kowalczyk, Brigitte.", "Kowalczyk, Brigitte"),  # inverted: one span, one placeholder
    ("Escalated by Hennessy, Orla after the call.", "Hennessy, Orla"),
    ("from: jane doe <jd@example.org>", "jane doe"),  # a top given name that is also a word, before a found surname
    ("signed, jane doe", "jane doe"),
])
def test_a_found_name_takes_the_rest_of_the_same_name_with_it(detector, text, name):
    """The tagger scores words one by one and used to leave a name's particle or its other half
    out of the span ("Rashidi" redacted, "bin" sent; "Walwyn" redacted, "Emory" sent)."""
    assert name in people(detector, text), people(detector, text)


@pytest.mark.parametrize("text, name", [
    ("Gatekeeper was Nicolas.", "Nicolas"),
    ("Summarise these standup notes:\nStephanie — yesterday: code review; today: fix flaky test", "Stephanie"),
    ("Shift handover: Demilade covers the night shift, Thomas is off sick.", "Thomas"),
])
def test_a_top_given_name_is_found_in_shapes_the_decoys_taught_against(detector, text, name):
    """Tagger and reader read these at 0.01-0.5: their training put dictionary words in such places."""
    assert name in people(detector, text), people(detector, text)


@pytest.mark.parametrize("text, name", [("hi, bob here", "bob"), ("Hi, Bob here", "Bob"), ("Hello, Maria, your order shipped", "Maria"),
                                        ("thanks again.\nbest, tom", "tom"), ("Best, Tom", "Tom")])
def test_a_greeting_or_sign_off_before_a_comma_is_not_taken_for_a_surname(detector, text, name):
    """"Wieland, Linda" is one inverted name; "hi, bob" and "best, tom" are a greeting or a sign-off
    and a name: only the name is redacted."""
    assert people(detector, text) == [name]


@pytest.mark.parametrize("text", ['Hey, man, let\'s play a game.', "thanks man!", "thanks, man!"])
def test_a_word_that_addresses_someone_without_naming_them_is_not_a_name(detector, text):
    assert people(detector, text) == []


def test_a_lone_letter_is_not_grown_into_a_name(detector):
    assert people(detector, "hey its me again, did u get my msg?") == []


@pytest.mark.parametrize("text, names", [
    ('{"first_name": "Mina", "last_name": "Okafor", "plan": "pro"}', ["Mina", "Okafor"]),
    ("INSERT INTO members (first_name, surname, tier) VALUES ('Tove', 'Lindqvist', 'gold'), ('Arvo', 'Pesonen', 'basic');",
     ["Tove", "Lindqvist", "Arvo", "Pesonen"]),
    ("id,given_name,family_name,plan\n17,Tove,Lindqvist,gold\n18,Arvo,Pesonen,basic", ["Tove", "Lindqvist", "Arvo", "Pesonen"]),
    ("Cardholder: ines vidal", ["ines vidal"]),
])
def test_a_field_that_holds_names_marks_its_value(detector, text, names):
    """In `{"first_name": "Mina"}` the key is out of the tagger's two-word window; the field says it."""
    found = people(detector, text)
    for name in names:
        at = text.index(name)
        assert any(text.index(f) <= at and at + len(name) <= text.index(f) + len(f) for f in found), (name, found)


@pytest.mark.parametrize("text, names", [
    ("Viewing booked for 14 Elm Row. Agent: Gary. Keys are with the concierge.", ["Gary"]),
    ("# rota primary: Olu secondary: Bryn escalation: ops-lead", ["Olu", "Bryn"]),
    ("Onboarding\n- Laptop: MBP-14 - Buddy: Chen - Start date: 3 March", ["Chen"]),
    ("Host: Mark. Doors open at seven.", ["Mark"]),
])
def test_a_field_value_stops_at_the_next_field_or_sentence(detector, text, names):
    """A line's value used to run to the line's end, so "Agent: Gary. Keys are with..." or
    "primary: Olu secondary: ..." never looked like a name and the field said nothing."""
    found = people(detector, text)
    for name in names:
        assert name in found, (name, found)


@pytest.mark.parametrize("text", [
    '{"name": "Widget Pro", "sku": "WP-1"}',
    "Primary: Blue, secondary: Reading",
    "primary: us-east-1 backup: eu-west-2",
    "Lead: Generation. Candidate: None",
    "Summarize the following: Agent: Please reset my password.",
    "Host: Ubuntu 22.04 - kernel: 6.5 - owner: platform team",
    "Translate the text below to: French",
    "metadata:\n  name: web\n  labels:\n    app: web",
    "name,qty,price\ngadget,3,2.50\nwidget,1,4.00",
    "Assistant: Sure, I can help with that.",
    "Author: Release Bot",
    '{"first_name": "the customer\'s", "note": "n/a"}',
])
def test_a_field_that_may_hold_a_name_needs_a_value_that_looks_like_one(detector, text):
    assert people(detector, text) == []


def test_field_names_are_sorted_by_what_they_hold():
    from rightmodel.privacy.name_fields import field_kind

    assert [field_kind(k) for k in ("first_name", "LastName", "card-holder", "SURNAME", "name", "Author", "sku", "filename")] == \
        ["name", "name", "name", "name", "maybe", "maybe", None, None]


def test_a_name_span_does_not_run_across_the_end_of_a_sentence(detector):
    """"Anna." keeps its full stop as one token, so "met Anna. John Smith called" once became one
    span "Anna. John Smith": two people behind one placeholder."""
    text = "John Smith met Anna. John Smith met Anna. John Smith met Anna."
    assert all(". " not in f and "." not in f[:-1] for f in people(detector, text)), people(detector, text)
    assert "John M. Smith" in people(detector, "We met Ada Lindqvist and John M. Smith today.")


def test_a_word_an_address_in_the_text_spells_is_a_name(detector):
    """"Hiring manager Radde." gives the tagger nothing to go on; fradde82@... in the same text does."""
    assert "Radde" in people(detector, "Hiring manager Radde. CVs to fradde82@example.org please.")
    assert people(detector, "Write to support@example.com or billing@example.com; the support team answers.") == []


def test_an_address_that_runs_a_name_together_marks_both_words():
    from rightmodel.privacy.name_echoes import echoes
    from rightmodel.privacy.name_tagger import NameTagger

    text = "Ticket from " + " " * 24 + ": ysolde vantreeck wants a refund"  # the address itself is blanked, as in detection
    found = echoes(text, ["ysoldevantreeck@example.net"], NameTagger().info)
    assert [text[e.start:e.end] for e in found] == ["ysolde vantreeck"]


def test_recurrence_search_visits_exactly_the_words_a_full_walk_would():
    """The recurrence pass finds candidate words by substring search instead of walking every word
    of the text; it must visit the same tokens a left-to-right walk yields, including inside
    hyphen and apostrophe compounds ("ab-ba", "o'ab") where a hit is no word start."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from rightmodel.privacy.name_repeats import _WORD, _word_starts

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet="abAB_'’-. \n", max_size=40), st.lists(st.sampled_from(["a", "ab", "ba", "b_"]), min_size=1, max_size=3))
    def check(text, words):
        low = text.lower()
        walk = [m.start() for m in _WORD.finditer(text) if any(low.startswith(w, m.start()) for w in words)]
        assert _word_starts(text, low, words) == walk

    check()


def test_a_long_text_full_of_names_finds_their_recurrences(detector):
    """Chunk seams of a long text leave some occurrences to the recurrence pass; all are covered."""
    text = "John Smith met Anna. " * 20_000
    covered = bytearray(len(text))
    for e in detector.detect(text):
        covered[e.start:e.end] = b"\x01" * (e.end - e.start)
    for name in ("John", "Smith", "Anna"):
        at = text.find(name)
        while at >= 0:
            assert covered[at], (name, at)
            at = text.find(name, at + 1)


@pytest.mark.parametrize("text,name", [
    ("John Smith met Anna.", "Anna"),
    ("Thanks for the help. I will call Ivan.", "Ivan"),
    ("The refund went to Li. She confirmed it.", "Li"),
])
def test_a_short_name_that_ends_a_sentence_is_found(detector, text, name):
    """A name of up to four letters before a full stop was one token with it ("Anna.", read like
    "Inc.") and the tagger never found it."""
    assert name in people(detector, text)


def test_abbreviations_with_a_full_stop_stay_abbreviations(detector):
    text = "See Fig. 3 of the report from Acme Inc. dated Jan. 5, section No. 4."
    assert people(detector, text) == []


@pytest.mark.parametrize("text,names", [
    ("[12:47 am] ralph: omw, 10 min\n[12:49 am] kofi: ok see you", ["ralph", "kofi"]),
    ("2023-05-01 09:12 <Marguerite> is the build green?\n2023-05-01 09:13 <tavita> yes", ["Marguerite", "tavita"]),
    ("Oriane 6:48 PM: rolling back the release\nDaud 6:50 PM: thanks", ["Oriane", "Daud"]),
    ("12/10/2022, 17:24 - Ikaika: are you coming?\n12/10/2022, 17:25 - Mirela: yes", ["Ikaika", "Mirela"]),
    ("lucille: r u coming\nagnieszka: 5 min\nlucille: k", ["lucille", "agnieszka"]),
])
def test_chat_speakers_are_names(detector, text, names):
    found = people(detector, text)
    assert all(n in found for n in names), found


@pytest.mark.parametrize("text", [
    "[4am] deploy-bot: build passed, promoting to staging\n[5am] deploy-bot: canary healthy",
    "2020-04-24T10:19:17Z WARN auth: failed login\n2020-04-24 10:19:18 kernel: eth0 up",
    "[10:00] System: restarting\n[10:01] Assistant: done",
    "Note: be brief\nAnswer: yes\nContext: none",
    "Input: the review text\nOutput: positive\nFormat: one word",
])
def test_bots_log_components_and_labels_are_not_speakers(detector, text):
    assert people(detector, text) == []


def test_an_at_mention_of_a_listed_name_is_a_name(detector):
    found = people(detector, "cc @Matteo @Randolph, can you check the error budget?")
    assert "Randolph" in found and any("Matteo" in f for f in found)


@pytest.mark.parametrize("text", ["@here please review", "@property\ndef size(self): ...", "write to jo@maria.com today"])
def test_handles_that_are_no_names_and_emails_are_not_mentions(detector, text):
    assert not any(e.source == "speaker" for e in detector.detect(text))


def test_the_other_items_of_a_list_of_names_are_names(detector):
    text = "Seating plan for 6: Allen, Magaly, kaombwe, Kyle, Camille, Lisette."
    found = " ".join(people(detector, text))
    assert all(n in found for n in ("Allen", "Magaly", "kaombwe", "Kyle", "Camille", "Lisette")), found


def test_a_table_column_of_names_takes_its_unfound_cells(detector):
    text = ("| Name | Team | SKU |\n|---|---|---|\n| Amarachi Onwuka | Platform | SKU-1 |\n"
            "| Emmanuelle | Design | SKU-2 |\n| Mary R. Guerriero | Platform | SKU-3 |")
    found = people(detector, text)
    assert "Emmanuelle" in found
    assert not any(w in " ".join(found) for w in ("Name", "Platform", "Design"))


@pytest.mark.parametrize("text", [
    "We sell apples, pears, plums and cherries.",
    "Offices: Paris, London, Berlin and Rome.",
    "first_name,last_name,email\nAwani,Nail,a@x.io\nMoussa,Mahmoudi,m@y.io\nLois,Minder,l@z.io",
])
def test_lists_of_other_things_and_headers_are_not_names(detector, text):
    found = people(detector, text)
    assert not any(w in " ".join(found) for w in ("apples", "cherries", "Paris", "Rome", "first_name", "email")), found


@pytest.mark.parametrize("word", ["Apologise", "Summarise", "Organise", "Analyse", "colour", "Centre", "Catalogue", "Defence"])
def test_british_spellings_are_dictionary_words(gazetteer, word):
    assert gazetteer.classes(word)[4], word


@pytest.mark.parametrize("name", ["Denise", "Louise", "Terence", "Clarence", "Seymour"])
def test_names_with_british_looking_endings_are_not_dictionary_words(gazetteer, name):
    assert not gazetteer.classes(name)[4], name


def test_a_british_imperative_opening_a_prompt_is_not_a_name(detector):
    text = "Draft a polite reply to a customer whose parcel arrived damaged. Apologise, offer a refund, and ask for a photo."
    assert people(detector, text) == []


def test_tables_and_lists_with_stray_carriage_returns_do_not_break_detection(detector):
    """The schema fuzz test sent '\\r' inside a comma-separated line and the csv module raised
    (a 500 at the gateway). Any mix of delimiters, quotes and line breaks must be read or skipped."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    assert detector.detect("Anna Smith, Bob Jones\nx,\r0\ny,z") is not None
    assert detector.detect("first_name,last_name\nAnna,Smith\r\nBob,Jo\rnes\n") is not None

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="Ab ,;|\t\r\n\"'@:-", max_size=60))
    def check(text):
        detector.detect(text)

    check()


def test_folding_ascii_words_takes_the_short_way_to_the_same_result() -> None:
    """gazetteer.fold skips Unicode decomposition for ASCII words; it must fold them exactly as
    the full path does (case, straight apostrophes), and still fold the rest the full way."""
    import random
    import string
    import unicodedata

    from rightmodel.privacy.gazetteer import fold

    def full(word: str) -> str:
        decomposed = unicodedata.normalize("NFKD", word.casefold())
        return "".join(c for c in decomposed if not unicodedata.combining(c) and c not in "'’")

    rng = random.Random(5)
    words = ["O'Brien", "D’Angelo", "MÜLLER", "Straße", "İstanbul", "", "x-y'z"]
    words += ["".join(rng.choice(string.printable + "’éñßİ") for _ in range(rng.randint(1, 10))) for _ in range(5000)]
    assert [fold(w) for w in words] == [full(w) for w in words]
    assert fold("O'Brien") == "obrien" and fold("MÜLLER") == "muller"
