"""The capability guard: multiple-choice accuracy of the reference and the trained model, as leaderboards score it.

Preference tuning can raise preference accuracy while the model loses knowledge (the alignment tax). Arabic
leaderboards (ArabicMMLU, AlGhafa, EXAMS) measure knowledge by the log-likelihood of each option after the
question, length-normalised: lighteval's `loglikelihood_acc_norm` divides each option's summed log-probability by
the option's length in characters (`LogProbCharNorm`) and picks the largest. No generation and no judge: the same
kind of forward pass DPO already runs. Here each question is rendered with the run's chat template and system
prompt (a question is a user turn, an option the start of the assistant's answer), cut by the run's own length
rules, and scored for the reference once per run (it is frozen) and for the policy at each evaluation.

Metrics of a set NAME: `mc/NAME/accuracy` (the trained model), `mc/NAME/reference_accuracy`, `mc/NAME/delta`
(trained minus reference: negative = capability lost), `mc/NAME/questions`, and the accuracy per tag value
(`mc/NAME/<tag>/<value>/accuracy`, e.g. per subject); each accuracy and the delta with its 95% interval.

Files: JSONL, one `{"question": str, "choices": [str, ...], "gold": int}` per line (optional string tags such as
"subject"); `eval_mc_sets` entries are PATH or NAME=PATH, and `builtin:arabic-mc` is the shipped set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from arabic_pref.errors import ConfigError
from arabic_pref.intervals import paired_difference
from arabic_pref.metrics import with_interval

KEY = "eval_mc_sets"
PREFIX = "mc"
BUILTIN = "builtin:arabic-mc"
BUILTIN_NAME = "arabic_mc"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_TAG_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Question:
    question: str
    choices: list[str]
    gold: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class MCSet:
    name: str
    path: Path
    questions: list[Question]
    reference_logprobs: list[list[float]] | None = None  # the frozen reference is scored once per run

    @property
    def prefix(self) -> str:
        return f"{PREFIX}/{self.name}/"


def shipped_path() -> Path:
    return Path(str(resources.files("arabic_pref") / "data" / "mc_sample" / "questions.jsonl"))


def parse_entry(entry: str) -> tuple[str, Path]:
    """(name, path) of `PATH`, `NAME=PATH` or `builtin:arabic-mc`."""
    if entry == BUILTIN:
        return BUILTIN_NAME, shipped_path()
    name, sep, path = entry.partition("=")
    if not sep:
        name, path = Path(entry).stem, entry
    name, path = name.strip(), path.strip()
    if path == BUILTIN:
        return name, shipped_path()
    if not path:
        raise ConfigError(KEY, f"entry {entry!r} has no path (use PATH, NAME=PATH or {BUILTIN})")
    if not _NAME.match(name):
        raise ConfigError(KEY, f"name {name!r} of {entry!r}: use letters, digits, '_', '-' and '.' (not first)")
    return name, Path(path).expanduser()


def load_mc_sets(entries: list[str]) -> list[MCSet]:
    """Read and check every set before any model loads; a bad line is a ConfigError naming file and line."""
    sets: list[MCSet] = []
    for entry in entries:
        name, path = parse_entry(entry)
        if name in {s.name for s in sets}:
            raise ConfigError(KEY, f"name {name!r} is used twice; give one as NAME=PATH")
        sets.append(MCSet(name, path, read_questions(path)))
    return sets


def read_questions(path: Path) -> list[Question]:
    if not path.is_file():
        raise ConfigError(KEY, f"{path}: no such file (expected JSONL of question, choices, gold)")
    questions = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                questions.append(_question(_parsed(line), f"{path}:{number}"))
    if not questions:
        raise ConfigError(KEY, f"{path}: no questions")
    return questions


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _question(row: Any, where: str) -> Question:
    if row is None:
        raise ConfigError(KEY, f"{where}: malformed JSON")
    if not isinstance(row, dict):
        raise ConfigError(KEY, f"{where}: expected an object, got {type(row).__name__}")
    question, choices, gold = row.get("question"), row.get("choices"), row.get("gold")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(KEY, f"{where}: 'question' must be a non-empty string")
    if not isinstance(choices, list) or len(choices) < 2:
        raise ConfigError(KEY, f"{where}: 'choices' must be a list of at least 2 strings")
    if not all(isinstance(c, str) and c.strip() for c in choices):
        raise ConfigError(KEY, f"{where}: every choice must be a non-empty string")
    if len(set(choices)) != len(choices):
        raise ConfigError(KEY, f"{where}: two choices are the same text")
    if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < len(choices):
        raise ConfigError(KEY, f"{where}: 'gold' must be the index of the correct choice (0..{len(choices) - 1})")
    tags = {k: str(v) for k, v in row.items() if k not in ("question", "choices", "gold") and isinstance(v, str)}
    return Question(question, list(choices), gold, tags)


def predicted_choice(logprobs: list[float], choices: list[str]) -> int:
    """lighteval's acc_norm choice: the largest log-probability per character (the first one on a tie)."""
    normalised = [lp / len(text) for lp, text in zip(logprobs, choices, strict=True)]
    return max(range(len(normalised)), key=lambda i: (normalised[i], -i))


def accuracy_metrics(mc_set: MCSet, policy: list[list[float]], reference: list[list[float]]) -> dict[str, float]:
    """The set's metrics from the per-choice log-probabilities of both models (see the module docstring).

    Every accuracy carries its 95% bootstrap interval and question count (`_ci_low`, `_ci_high`, `_n`), and the
    delta the interval of the paired difference: both models answer the same questions, so a question's
    difficulty cancels and the delta's interval is far narrower than the two accuracies' intervals suggest.
    """
    mine = [float(predicted_choice(lp, q.choices) == q.gold) for lp, q in zip(policy, mc_set.questions, strict=True)]
    ref = [float(predicted_choice(lp, q.choices) == q.gold) for lp, q in zip(reference, mc_set.questions, strict=True)]
    p = mc_set.prefix
    delta = paired_difference(mine, ref)
    out = with_interval(f"{p}accuracy", mine, None) | with_interval(f"{p}reference_accuracy", ref, None)
    out |= {f"{p}delta": delta.estimate, f"{p}delta_ci_low": delta.low, f"{p}delta_ci_high": delta.high}
    out[f"{p}questions"] = float(len(mine))
    by_tag: dict[str, list[float]] = {}
    for question, correct in zip(mc_set.questions, mine, strict=True):
        for tag, value in question.tags.items():
            by_tag.setdefault(f"{p}{_TAG_VALUE.sub('_', tag)}/{_TAG_VALUE.sub('_', value)}/accuracy", []).append(
                correct
            )
    for name, flags in sorted(by_tag.items()):
        out |= with_interval(name, flags, None)
    return out


def choice_logprobs(
    model: Any, tokenizer: Any, questions: list[Question], system_prompt: str | None, max_prompt: int, max_len: int
) -> list[list[float]]:
    """Summed log-probability of each choice's tokens after its question, one forward per question.

    Prompt and choice are tokenized apart and joined (as TRL joins prompt and completion), the prompt cut by the
    run's prompt rules (`fit_prompt`: the question's beginning goes first) and each choice to the room left.
    """
    import torch

    from arabic_pref.chat_format import prompt_messages, render_prompt
    from arabic_pref.data.formatting import fit_prompt

    device = next(model.parameters()).device
    was_training = getattr(model, "training", False)
    model.eval()
    scores = []
    try:
        for q in questions:
            fitted = fit_prompt(tokenizer, prompt_messages(q.question, system_prompt), max_prompt)
            text = fitted[0] if fitted else render_prompt(tokenizer, q.question, system_prompt)
            prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"][-max_prompt:]
            room = max(max_len - len(prompt_ids), 1)
            rows = [prompt_ids + tokenizer(c, add_special_tokens=False)["input_ids"][:room] for c in q.choices]
            width = max(map(len, rows))
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            start = len(prompt_ids) - 1  # the logits at position t predict token t + 1
            scores.append([float(logp[i, start : len(r) - 1].sum()) for i, r in enumerate(rows)])
    finally:
        if was_training:
            model.train()
    return scores


def score_mc_set(dpo: Any, mc_set: MCSet) -> dict[str, float]:
    """The set's metrics for the trainer's policy, the reference scored once and reused."""
    c = dpo.config
    args = (dpo.tokenizer, mc_set.questions, c.system_prompt, c.max_prompt_length, c.max_length)
    if mc_set.reference_logprobs is None:
        mc_set.reference_logprobs = choice_logprobs(dpo.ref_model, *args)
    return accuracy_metrics(mc_set, choice_logprobs(dpo.model, *args), mc_set.reference_logprobs)
