"""Scoring for benchmarks/real_arabic.py: held-out pairs ranked by reference and policy, and multiple choice.

Pairs: log pi(y|x) summed over the response tokens (<end_of_turn> included), formatted exactly as training
formats them; the prompt's cache is reused for both answers. Accuracy (ties 1/2) of the reference (the LoRA model
with adapters off) and of the policy, summed and per token, DPO's implicit reward (log-ratio) accuracy, the
length-only baseline (longer wins), and drift as KL(policy || reference) per response token on chosen answers.

Multiple choice (the capability guard on held-out EXAMS questions): lighteval's acc_norm, through the same code a
run uses (`arabic_pref.evaluation.multiple_choice`).

Every mean carries a 95% bootstrap interval from `arabic_pref.intervals` that resamples whole prompts (questions);
all arrays of one report use the same seed and clusters, so they share resamples and the difference's interval is
the paired one.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from arabic_pref.config import DEFAULT_SYSTEM_PROMPT
from arabic_pref.evaluation.multiple_choice import Question, choice_logprobs, predicted_choice
from arabic_pref.intervals import bootstrap_mean
from arabic_pref.metrics import pair_outcomes


def _response(model, prompt_out, ids: list[int]) -> torch.Tensor:
    cache = copy.deepcopy(prompt_out.past_key_values)
    out = model(input_ids=torch.tensor([ids]), past_key_values=cache, use_cache=True)
    logits = torch.cat([prompt_out.logits[0, -1:], out.logits[0, :-1]]).float()
    return torch.log_softmax(logits, dim=-1)


@torch.no_grad()
def score(model, tokenizer, pairs: list[dict], kl_pairs: int = 0) -> list[dict]:
    """Summed response log-probs, token counts, and (first kl_pairs pairs) KL to the adapter-free model."""
    model.eval()
    out = []
    for i, pair in enumerate(pairs):
        prompt_ids = torch.tensor([tokenizer(pair["prompt"], add_special_tokens=False)["input_ids"]])
        prompt_out = model(input_ids=prompt_ids, use_cache=True, logits_to_keep=1)
        row = {}
        for side in ("chosen", "rejected"):
            ids = tokenizer(pair[side], add_special_tokens=False)["input_ids"]
            lp = _response(model, prompt_out, ids)
            row[side], row[f"n_{side}"] = float(lp.gather(1, torch.tensor(ids)[:, None]).sum()), len(ids)
            if side == "chosen" and i < kl_pairs:
                with model.disable_adapter():
                    ref_out = model(input_ids=prompt_ids, use_cache=True, logits_to_keep=1)
                    ref_lp = _response(model, ref_out, ids)
                row["kl"] = float((lp.exp() * (lp - ref_lp)).sum())
        out.append(row)
        if (i + 1) % 50 == 0:
            print(f"  scored {i + 1}/{len(pairs)}", flush=True)
    return out


def correct(chosen: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """Each pair's outcome, as every accuracy of a run counts it (1 when chosen wins, 1/2 on a tie)."""
    return np.array(pair_outcomes(chosen.tolist(), rejected.tolist()))


def intervals(values: dict[str, np.ndarray], clusters: list[str] | None) -> dict:
    """Mean and 95% interval of each array (shared resamples: same seed, same clusters)."""
    out = {}
    for name, v in values.items():
        ci = bootstrap_mean(v, clusters)
        out[name] = {"mean": round(ci.estimate, 4), "ci95": [round(ci.low, 4), round(ci.high, 4)]}
    return out


def report(pairs: list[dict], ref: list[dict], pol: list[dict]) -> dict:
    def arr(scores, key, per_token=False):
        return np.array([s[key] / (s[f"n_{key}"] if per_token else 1) for s in scores])

    ref_sum = correct(arr(ref, "chosen"), arr(ref, "rejected"))
    ref_tok = correct(arr(ref, "chosen", True), arr(ref, "rejected", True))
    pol_sum = correct(arr(pol, "chosen"), arr(pol, "rejected"))
    pol_tok = correct(arr(pol, "chosen", True), arr(pol, "rejected", True))
    ratio_c, ratio_r = arr(pol, "chosen") - arr(ref, "chosen"), arr(pol, "rejected") - arr(ref, "rejected")
    values = {
        "reference_summed": ref_sum,
        "reference_per_token": ref_tok,
        "trained_summed": pol_sum,
        "trained_per_token": pol_tok,
        "difference_summed": pol_sum - ref_sum,
        "difference_per_token": pol_tok - ref_tok,
        "implicit_reward_summed": correct(ratio_c, ratio_r),
        "length_longer_wins": correct(arr(ref, "n_chosen"), arr(ref, "n_rejected")),
    }
    kl = [s["kl"] for s in pol if "kl" in s]
    kl_tokens = sum(s["n_chosen"] for s in pol if "kl" in s)
    out = intervals(values, [p["prompt"] for p in pairs])
    out["drift"] = {"kl_per_token": round(sum(kl) / kl_tokens, 5) if kl_tokens else None, "kl_pairs": len(kl)}
    return out


def mc_logprobs(model, tokenizer, questions: list[Question], args) -> list[list[float]]:
    return choice_logprobs(model, tokenizer, questions, DEFAULT_SYSTEM_PROMPT, args.max_prompt_length, args.max_length)


def mc_report(questions: list[Question], ref: list[list[float]], pol: list[list[float]]) -> dict:
    """acc_norm of reference and policy on the same questions, the paired difference, and 'longest option' and
    'chance' baselines (a set the longest option wins is a set length normalisation can game)."""

    def right(scores):
        return np.array(
            [float(predicted_choice(s, q.choices) == q.gold) for s, q in zip(scores, questions, strict=True)]
        )

    longest = np.array(
        [float(max(range(len(q.choices)), key=lambda i: len(q.choices[i])) == q.gold) for q in questions]
    )
    ref_right, pol_right = right(ref), right(pol)
    values = {"reference": ref_right, "trained": pol_right, "difference": pol_right - ref_right,
              "longest_option_wins": longest}  # fmt: skip
    out = intervals(values, None)  # one question a cluster
    out["chance"] = round(float(np.mean([1 / len(q.choices) for q in questions])), 4)
    out["questions"] = len(questions)
    return out
