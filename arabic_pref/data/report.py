"""DataReport: what reading the data did, in numbers a person and MLflow can both read.

Nothing is dropped silently: each drop has a reason, each warning a name, and both keep the locations of
their first few offenders so a person can open the file at the right line. The same object gives the one
line logged by every training run (`summary`), the `data/...` metrics of its MLflow run (`as_metrics`) and
the report of `python -m arabic_pref.data validate` (`render`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

FIRST_OFFENDERS = 5  # locations kept per reason
MAX_ANNOTATOR_METRICS = 20  # MLflow metrics for the most frequent annotators; the rest are only counted


@dataclass
class DataReport:
    """Counts of what was read, kept, dropped (by reason) and flagged, per split; Arabic script shares."""

    read: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # "split/reason" -> count
    warnings: Counter = field(default_factory=Counter)  # name -> pairs kept but worth a look
    changed: Counter = field(default_factory=Counter)  # "nfc" / "normalize" -> pairs whose text changed
    offenders: dict[str, list[str]] = field(default_factory=dict)  # reason or warning -> first locations
    annotators_read: Counter = field(default_factory=Counter)
    annotators_kept: Counter = field(default_factory=Counter)
    arabic_share: dict[str, float] = field(default_factory=dict)  # field -> mean share of Arabic letters
    source: str = ""
    format: str = ""
    form: str = ""  # "plain" or "conversational"
    normalize: str = "none"
    validation_from: str = ""
    test_from: str = ""  # empty: the data has no test split
    notes: list[str] = field(default_factory=list)

    def drop(self, split: str, reason: str, where: str) -> None:
        self.dropped[f"{split}/{reason}"] += 1
        self._offender(f"{split}/{reason}", where)

    def warn(self, name: str, where: str) -> None:
        self.warnings[name] += 1
        self._offender(name, where)

    def _offender(self, key: str, where: str) -> None:
        first = self.offenders.setdefault(key, [])
        if len(first) < FIRST_OFFENDERS:
            first.append(where)

    def as_metrics(self) -> dict[str, float]:
        out: dict[str, float] = {f"data/{s}_read": n for s, n in self.read.items()}
        out |= {f"data/{s}_kept": n for s, n in self.kept.items()}
        out |= {f"data/dropped/{k}": n for k, n in self.dropped.items()}
        out |= {f"data/warning/{k}": n for k, n in self.warnings.items()}
        out |= {f"data/changed/{k}": n for k, n in self.changed.items()}
        out |= {f"data/arabic_share/{k}": round(v, 4) for k, v in self.arabic_share.items()}
        if self.annotators_read:
            out["data/annotators"] = len(self.annotators_read)
            for name, n in self.annotators_kept.most_common(MAX_ANNOTATOR_METRICS):
                out[f"data/annotator/{_metric_safe(name)}_kept"] = n
        return out

    def summary(self) -> str:
        parts = [f"{s}: {self.kept[s]}/{self.read[s]} kept" for s in self.read]
        drops = ", ".join(f"{k}={n}" for k, n in sorted(self.dropped.items()))
        warns = ", ".join(f"{k}={n}" for k, n in sorted(self.warnings.items()))
        return "; ".join(parts) + (f" (dropped: {drops})" if drops else "") + (f" (warnings: {warns})" if warns else "")

    def render(self) -> str:
        """The multi-line report of the data command."""
        lines = [
            f"data        {self.source}",
            f"format      {self.format}, {self.form} pairs, normalize={self.normalize}",
            f"validation  {self.validation_from}",
            f"test        {self.test_from or 'none (add a test file or key, or set test_split)'}",
            "pairs       " + "; ".join(f"{s} {self.kept[s]} kept of {self.read[s]} read" for s in self.read),
        ]
        lines += self._reasons("dropped", self.dropped)
        lines += self._reasons("warnings", self.warnings)
        if self.changed:
            lines.append("changed     " + ", ".join(f"{k} {n} pairs" for k, n in sorted(self.changed.items())))
        if self.arabic_share:
            shares = ", ".join(f"{k} {v:.3f}" for k, v in self.arabic_share.items())
            lines.append(f"script      Arabic share of letters, mean over kept pairs: {shares}")
        if self.annotators_read:
            shown = ", ".join(
                f"{name} {self.annotators_kept[name]}/{n}" for name, n in self.annotators_read.most_common(10)
            )
            more = len(self.annotators_read) - 10
            lines.append(f"annotators  kept/read: {shown}" + (f" (+{more} more)" if more > 0 else ""))
        lines += [f"note        {note}" for note in self.notes]
        return "\n".join(lines)

    def _reasons(self, title: str, counts: Counter) -> list[str]:
        out = []
        for i, (key, n) in enumerate(sorted(counts.items())):
            first = ", ".join(self._short(w) for w in self.offenders.get(key, []))
            out.append(f"{title if i == 0 else '':<12}{key} {n}" + (f"  (first: {first})" if first else ""))
        return out

    def _short(self, where: str) -> str:
        """A location without the dataset's folder: `train.jsonl:12` rather than the absolute path."""
        prefix = self.source.rstrip("/") + "/"
        return where[len(prefix) :] if where.startswith(prefix) else where.rsplit("/", 1)[-1]


def _metric_safe(name: str) -> str:
    """MLflow metric names allow letters, digits, '_', '-', '.', ' ' and '/'; other characters become '_'."""
    safe = re.sub(r"[^\w\-. ]", "_", name, flags=re.ASCII)[:80]
    if safe == name:
        return name
    # Distinct ids (e.g. two Arabic names) must not collapse into one metric.
    return f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
