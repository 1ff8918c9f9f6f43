"""Captures of a generative task → prompt/answer conversations a LoRA candidate is trained on.

A generative task's answers are text to learn, not labels to find: nothing here normalises or
votes them into classes.

- The prompt is the conversation the frontier answered (its system prompt and earlier turns,
  as captured; ``Capture.conversation``), so the LoRA is trained on what the chat template will
  render at serving time, not on the bare input.
- Deduplication on the prompt (case and whitespace folded): one example per distinct prompt. A
  frontier that answered the same prompt differently (sampling) leaves its most frequent answer,
  ties going to the newest (the frontier as it answers now); such prompts are counted as
  ``variants``, not dropped: for free text, differing answers are normal, not a conflict.
- Unusable captures (an empty prompt or answer, or an answer with control characters, i.e. not
  text) are counted and reported, never trained on.
- Split: the same stable hash as the classifier path (``dataset.in_heldout``), on the input text
  when the prompt is one user message, else on the whole folded conversation: ``heldout_share``
  of the prompts are held out, never trained on, and measure agreement with the frontier.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from rightmodel.distill.dataset import fold, in_heldout
from rightmodel.distill.store import Capture

Conversation = list[dict[str, str]]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class GenerativeSet:
    train: list[Conversation] = field(default_factory=list)
    heldout: list[Conversation] = field(default_factory=list)
    captured: int = 0
    duplicates: int = 0
    variants: int = 0  # prompts the frontier answered in more than one way (its most frequent answer kept)
    unusable: int = 0
    unusable_examples: list[tuple[str, int]] = field(default_factory=list)  # (why, count), most common first

    def summary(self) -> dict:
        return {
            "kind": "generate", "captured": self.captured, "examples": len(self.train) + len(self.heldout),
            "train": len(self.train), "heldout": len(self.heldout), "duplicates": self.duplicates,
            "variants": self.variants, "unusable": self.unusable, "unusable_reasons": self.unusable_examples[:10],
        }


def prompt_key(prompt: Conversation) -> str:
    """What identifies a prompt for deduplication and the split: the input text when the prompt
    is one user message (the classifier path's key, so an input lands on the same side in both),
    else every turn with its role."""
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        return fold(prompt[0]["content"])
    return fold("\n".join(f"{m['role']}: {m['content']}" for m in prompt))


def unusable(capture: Capture) -> str | None:
    """Why a capture cannot be a training pair, or None."""
    prompt = capture.conversation()
    if not prompt or not any(m["role"] == "user" and m["content"].strip() for m in prompt):
        return "no user text in the prompt (e.g. images or tool calls only)"
    if not capture.answer.strip():
        return "empty answer"
    if _CONTROL.search(capture.answer):
        return "answer is not text (control characters)"
    return None


def build_pairs(captures: Sequence[Capture], heldout_share: float = 0.2) -> GenerativeSet:
    """Captures (oldest first, as the store returns them) → deduplicated conversations, split."""
    out = GenerativeSet(captured=len(captures))
    answers: dict[str, Counter] = defaultdict(Counter)
    newest: dict[str, dict[str, int]] = defaultdict(dict)  # key -> answer -> index of its newest capture
    prompts: dict[str, Conversation] = {}
    bad: Counter = Counter()
    for i, c in enumerate(captures):
        why = unusable(c)
        if why is not None:
            out.unusable += 1
            bad[why] += 1
            continue
        prompt = c.conversation()
        key = prompt_key(prompt)
        if key in prompts:
            out.duplicates += 1
        prompts.setdefault(key, prompt)
        answer = c.answer.strip()
        answers[key][answer] += 1
        newest[key][answer] = i
    out.unusable_examples = bad.most_common()
    for key, counts in answers.items():
        if len(counts) > 1:
            out.variants += 1
        answer = max(counts, key=lambda a: (counts[a], newest[key][a]))
        example = [*prompts[key], {"role": "assistant", "content": answer}]
        (out.heldout if in_heldout(key, heldout_share) else out.train).append(example)
    return out
