"""Support messages → {intent, order_id, urgency}: templated data split by template.

Every message is one *frame* (a sentence pattern written for one intent) filled with an order
reference (or none), an urgency cue and small noise (greetings, sign-offs, casing). Frames are
split between train, calibration and test, so the test split's sentence patterns were never seen
in training (slot fillers — order-id formats, urgency cues, names — are shared; the bench says so).
Labels come from the generator, so they are exact.
"""

from __future__ import annotations

import json
import random
import string

from generative_bench.extraction_frames import FRAMES

INTENTS = ("refund", "cancel_order", "track_order", "change_address", "damaged_item", "billing_issue")
URGENCIES = ("low", "medium", "high")

SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": list(INTENTS)},
        "order_id": {"anyOf": [{"type": "string", "pattern": "^[A-Z]{2}[0-9]{6}$"}, {"type": "null"}]},
        "urgency": {"type": "string", "enum": list(URGENCIES)},
    },
    "required": ["intent", "order_id", "urgency"],
    "additionalProperties": False,
}

# The short instruction the fine-tuned specialist is trained and served with.
SYSTEM = "Extract the support request as JSON: intent, order_id (or null), urgency."

# A middle ground a team would write: the labels with a few words each, so unseen phrasings have something to match.
LABELLED_SYSTEM = (
    "Extract the support request as JSON. intent: refund (money back), cancel_order (stop it before it ships), "
    "track_order (where is the parcel), change_address (deliver somewhere else), damaged_item (arrived broken or "
    "faulty), billing_issue (wrong or double charge, invoice). order_id: the order reference or null. "
    "urgency: high, medium or low."
)

# The zero-shot base gets the full specification instead (its only chance to know the labels).
ZERO_SHOT_SYSTEM = (
    "You read customer support messages and extract three fields as a JSON object.\n"
    "- intent: one of refund (wants money back), cancel_order (wants to cancel before it ships), "
    "track_order (asks where the parcel is), change_address (wants delivery to another address), "
    "damaged_item (item arrived broken or faulty), billing_issue (wrong or double charge, invoice problems).\n"
    "- order_id: the order reference, two capital letters and six digits such as KT204913, without any '#'; "
    "null when the message gives none.\n"
    "- urgency: high when the customer says it is urgent or needs it today or now, low when they say there is "
    "no rush, otherwise medium.\n"
    'Answer with the JSON object only, e.g. {"intent": "refund", "order_id": "KT204913", "urgency": "medium"}.'
)

REF_FORMATS = ("order {id}", "order #{id}", "#{id}", "{id}", "my order {id}", "order number {id}", "purchase {id}")
NO_REF = ("my order", "my last order", "the order", "my purchase", "what I bought")
CUES = {
    "high": (" This is urgent!", " I need this sorted today.", " Please hurry, it's urgent.", " ASAP please.",
             " I need an answer right now.", " URGENT."),
    "low": (" No rush.", " Whenever you get a chance.", " Not urgent, just wondering.", " No hurry at all.",
            " Take your time."),
    "medium": ("", " Thanks.", " Thank you.", " Let me know.", " Cheers."),
}
GREETINGS = ("", "", "Hi, ", "Hello, ", "Hey there. ", "Good morning, ", "Dear support, ")
SIGNOFFS = ("", "", " - Sam", " Regards, Priya", " Best, Jordan", " Thanks, Alex")


def split_frames(seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """(intent, frame) lists per split: of each intent's frames, 60% train, 20% calibration, 20% test
    (48 / 16 / 16 of 80)."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[str, str]]] = {"train": [], "calibration": [], "test": []}
    for intent, frames in FRAMES.items():
        frames = frames[:]
        rng.shuffle(frames)
        n_cal = n_test = max(1, len(frames) // 5)
        n_train = len(frames) - n_cal - n_test
        out["train"] += [(intent, f) for f in frames[:n_train]]
        out["calibration"] += [(intent, f) for f in frames[n_train:n_train + n_cal]]
        out["test"] += [(intent, f) for f in frames[n_train + n_cal:]]
    return out


def order_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=2)) + "".join(rng.choices(string.digits, k=6))


def render(intent: str, frame: str, rng: random.Random) -> tuple[str, dict]:
    """One message and its exact label."""
    urgency = rng.choice(URGENCIES)
    if rng.random() < 0.8:
        oid = order_id(rng)
        ref = rng.choice(REF_FORMATS).format(id=oid)
    else:
        oid, ref = None, rng.choice(NO_REF)
    cue = rng.choice(CUES[urgency]).strip() if frame.startswith("{cue}") else rng.choice(CUES[urgency])
    text = frame.format(ref=ref, cue=cue).strip()
    text = text[0].upper() + text[1:]
    text = (rng.choice(GREETINGS) + text + rng.choice(SIGNOFFS)).strip()
    if rng.random() < 0.15:
        text = text.lower().replace(oid.lower(), oid) if oid else text.lower()
    return text, {"intent": intent, "order_id": oid, "urgency": urgency}


def answer_text(label: dict) -> str:
    """The target as the model writes it: compact JSON, fields in schema order."""
    return json.dumps({"intent": label["intent"], "order_id": label["order_id"], "urgency": label["urgency"]})


def make_split(frames: list[tuple[str, str]], n: int, seed: int) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        intent, frame = frames[i % len(frames)]
        rows.append(render(intent, frame, rng))
    rng.shuffle(rows)
    return rows


def dataset(n_train: int = 1200, n_cal: int = 300, n_test: int = 300, seed: int = 0) -> dict[str, list[tuple[str, dict]]]:
    frames = split_frames(seed)
    return {"train": make_split(frames["train"], n_train, seed + 1),
            "calibration": make_split(frames["calibration"], n_cal, seed + 2),
            "test": make_split(frames["test"], n_test, seed + 3)}


def exact(prediction: str, label: dict) -> tuple[bool, bool]:
    """(whole JSON equal to the label, valid against SCHEMA)."""
    try:
        obj = json.loads(prediction)
    except (json.JSONDecodeError, TypeError):
        return False, False
    valid = (isinstance(obj, dict) and set(obj) == {"intent", "order_id", "urgency"} and obj.get("intent") in INTENTS
             and obj.get("urgency") in URGENCIES and (obj.get("order_id") is None or (isinstance(obj["order_id"], str)
             and len(obj["order_id"]) == 8 and obj["order_id"][:2].isalpha() and obj["order_id"][:2].isupper() and obj["order_id"][2:].isdigit())))
    return obj == label, valid
