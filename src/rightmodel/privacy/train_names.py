"""Train the PERSON tagger shipped in rightmodel/privacy/data/name_tagger.npz.

    python -m rightmodel.privacy.train_names [--sentences 40000] [--seed 7]

Needs Faker (a dev dependency). Names come only from locales the privacy benchmark does not
use, and the templates here are written for training only (see name_tagger.py for why); real
Banking77 questions (datasets/banking77/train.csv) are the text without names. Prints a
held-out score (a random 10% of the generated sentences, by sentence) before saving.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path
from typing import Any

import numpy as np

from rightmodel.privacy.name_tagger import MODEL_PATH, N_FEATURES, features, is_candidate, tokens

TRAIN_LOCALES = ["pt_BR", "pt_PT", "pl_PL", "cs_CZ", "sv_SE", "da_DK", "no_NO", "fi_FI", "ro_RO", "hu_HU", "hr_HR",
                 "sl_SI", "tr_TR", "lt_LT", "sk_SK", "id_ID", "ga_IE"]
TITLES = ["Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Dr", "Dr.", "Prof.", "Sir", "Madam", "Mx.", "Pan", "Pani", "Sr.", "Sra.",
          "Senhor", "Dona", "Fru", "Hr.", "Frk.", "Bay", "Bayan", "Ing.", "Mgr.", "Bc.", "Capt.", "Rev.", "Judge", "Officer", "Agent"]
PRODUCTS = ["Premium Plus", "Gold Card", "Apple Pay", "Google Pay", "Visa Platinum", "Travel Wallet", "Smart Saver", "Business Pro",
            "Metal Plan", "Standard Plan", "Instant Transfer", "Disposable Virtual Card", "Top Up", "Face ID", "Android", "iPhone",
            "Windows", "Chrome", "Excel", "PayPal", "Western Union", "SEPA", "SWIFT", "Mastercard", "American Express"]
ACRONYMS = ["PIN", "ATM", "IBAN", "BIC", "VAT", "EUR", "USD", "GBP", "API", "FAQ", "ID", "OTP", "SMS", "KYC", "UK", "EU", "US", "PDF", "CSV"]
WORDS = ["Monday", "Tuesday", "Friday", "January", "March", "August", "December", "Christmas", "Easter", "Support", "Billing",
         "Account", "Invoice", "Refund", "Urgent", "Update", "Reminder", "Customer Service", "Fraud Team", "Help Center", "Terms",
         "Privacy Policy", "Settings", "Security", "Profile", "Statement", "Savings", "Checking", "Premium"]

# {N} a person (labelled), {N2} a second one; {C} company, {L} city, {K} country, {P} product, {A} acronym, {W} capitalised word.
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


def _name(fake: Any, rng: random.Random) -> tuple[str, str]:
    """(text, title prefix): the title, when there is one, is not part of the name's label."""
    first, last = fake.first_name(), fake.last_name()
    r = rng.random()
    if r < 0.12:
        last = f"{last}-{fake.last_name()}"
    elif r < 0.22:
        last = f"{last} {fake.last_name()}"
    if rng.random() < 0.12:
        first = f"{first} {fake.first_name()}"
    if rng.random() < 0.08:  # surnames with particles, as in Dutch, German, Spanish, Portuguese, Arabic names
        last = f"{rng.choice(['van', 'van der', 'de', 'de la', 'del', 'da', 'dos', 'von', 'di', 'bin', 'al', 'ter'])} {last}"
    name = {0: f"{first} {last}", 1: f"{first} {last}", 2: f"{first} {last}", 3: first, 4: f"{last}, {first}", 5: f"{first[0]}. {last}"}[
        rng.choice([0, 0, 1, 2, 2, 3, 4, 5])
    ]
    if rng.random() < 0.04:
        name = name.upper()
    title = f"{rng.choice(TITLES)} " if rng.random() < 0.15 else ""
    return name, title


def _sentence(fakers: list[Any], rng: random.Random) -> tuple[str, list[tuple[int, int]]]:
    fake = rng.choice(fakers)
    template = rng.choice(TEMPLATES) if rng.random() < 0.75 else rng.choice(NEGATIVE)
    text, names = "", []
    parts = template.replace("{{", "\x01").replace("}}", "\x02").split("{")
    text = parts[0]
    for part in parts[1:]:
        key, rest = part.split("}", 1)
        if key in ("N", "N2"):
            name, title = _name(fake, rng)
            text += title
            names.append((len(text), len(text) + len(name)))
            text += name
        else:
            text += {
                "C": lambda: fake.company(), "L": lambda: fake.city(), "K": lambda: fake.country(), "P": lambda: rng.choice(PRODUCTS),
                "A": lambda: rng.choice(ACRONYMS), "W": lambda: rng.choice(WORDS),
            }[key]()
        text += rest
    return text.replace("\x01", "{").replace("\x02", "}"), names


def examples(text: str, names: list[tuple[int, int]]) -> tuple[list[list[str]], list[int]]:
    spans = tokens(text)
    words = [text[s:e] for s, e in spans]
    xs, ys = [], []
    for i, (s, e) in enumerate(spans):
        if is_candidate(words, i):
            xs.append(features(words, i))
            ys.append(int(any(a <= s and e <= b for a, b in names)))
    return xs, ys


def build(n: int, seed: int, root: Path) -> list[tuple[str, list[tuple[int, int]]]]:
    from faker import Faker

    rng = random.Random(seed)
    fakers = []
    for loc in TRAIN_LOCALES:
        f = Faker(loc)
        f.seed_instance(seed + sum(map(ord, loc)))
        fakers.append(f)
    data = [_sentence(fakers, rng) for _ in range(n)]
    with open(root / "datasets" / "banking77" / "train.csv", newline="", encoding="utf-8") as fh:
        real = [r["text"] for r in csv.DictReader(fh)]
    rng.shuffle(real)
    data += [(t, []) for t in real[: n // 4]]
    rng.shuffle(data)
    return data


def main(argv: list[str] | None = None) -> None:
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=40000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[3], help="checkout with datasets/banking77")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where the weights go (default: the shipped file)")
    args = parser.parse_args(argv)
    data = build(args.sentences, args.seed, args.repo)
    cut = len(data) // 10
    hasher = FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)

    def matrix(rows):
        xs, ys = [], []
        for text, names in rows:
            x, y = examples(text, names)
            xs += x
            ys += y
        return hasher.transform(xs), np.array(ys)

    x_test, y_test = matrix(data[:cut])
    x_train, y_train = matrix(data[cut:])
    model = LogisticRegression(C=0.5, max_iter=2000)
    model.fit(x_train, y_train)
    pred = model.predict_proba(x_test)[:, 1] >= 0.5
    tp = int((pred & (y_test == 1)).sum())
    print(f"held-out candidate tokens {len(y_test)}: recall {tp / max(1, (y_test == 1).sum()):.4f} precision {tp / max(1, pred.sum()):.4f}")
    coef = model.coef_[0].astype(np.float32)
    index = np.flatnonzero(np.abs(coef) > 1e-6)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as fh:  # a file object: np.savez would otherwise append ".npz" to other names
        np.savez_compressed(fh, index=index.astype(np.int32), value=coef[index], bias=np.float32(model.intercept_[0]))
    print(f"saved {args.out} ({len(index)} weights, {args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
