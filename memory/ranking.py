"""How retrieved episodes are ordered: embedding similarity first, nudged by recency, proven usefulness and same site.

Pure functions over values: the store over-fetches by similarity and calls `rank`; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from webcoach.condenser.episode import Episode, domain_of


@dataclass(frozen=True, kw_only=True)
class RetrievalWeights:
    similarity: float = 1.0
    recency: float = 0.15
    half_life_days: float = 14.0  # an episode this old gets half the recency bonus of a fresh one
    usefulness: float = 0.25
    same_site: float = 0.15
    overfetch: int = 32  # nearest neighbours fetched by similarity before re-ranking
    min_similarity: float = 0.0  # candidates below this similarity are dropped, whatever their other merits

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days}")
        if self.overfetch < 1:
            raise ValueError(f"overfetch must be >= 1, got {self.overfetch}")


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One retrieved episode with its score and the parts the score was made of (for explaining advice)."""

    episode: Episode
    score: float
    similarity: float
    recency: float  # 1.0 for a fresh episode, 0.5 after one half-life
    usefulness: float  # 0.5 = no evidence yet
    same_site: bool


def same_site(domain: str | None, other: str | None) -> bool:
    """Same host, or one a subdomain of the other (docs.python.org ~ python.org)."""
    if not domain or not other:
        return False
    a, b = domain.lower(), other.lower()
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def recency(created_at: datetime, now: datetime, half_life_days: float) -> float:
    age_days = max(0.0, (_aware(now) - _aware(created_at)).total_seconds() / 86400)
    return float(0.5 ** (age_days / half_life_days))


def score(
    episode: Episode, similarity: float, *, domain: str | None, now: datetime, weights: RetrievalWeights | None = None
) -> Hit:
    """score = w_sim*similarity + w_rec*0.5**(age/half_life) + w_use*(usefulness-0.5)*2 + w_site*[same site]."""
    w = weights or RetrievalWeights()
    rec = recency(episode.created_at, now, w.half_life_days)
    use = episode.usefulness
    site = same_site(domain, episode.domain)
    total = w.similarity * similarity + w.recency * rec + w.usefulness * (use - 0.5) * 2 + w.same_site * float(site)
    return Hit(episode=episode, score=total, similarity=similarity, recency=rec, usefulness=use, same_site=site)


def rank(
    candidates: Iterable[tuple[Episode, float]],
    *,
    url: str | None,
    now: datetime | None = None,
    weights: RetrievalWeights | None = None,
    k: int | None = None,
) -> list[Hit]:
    """(episode, similarity) pairs -> Hits best first (ties: more similar, then newer, then id), at most k."""
    w = weights or RetrievalWeights()
    when = now or datetime.now(UTC)
    domain = domain_of(url)
    hits = [score(ep, sim, domain=domain, now=when, weights=w) for ep, sim in candidates if sim >= w.min_similarity]
    hits.sort(key=lambda h: (-h.score, -h.similarity, -_aware(h.episode.created_at).timestamp(), h.episode.id))
    return hits if k is None else hits[:k]


def _aware(moment: datetime) -> datetime:
    # Episodes written by hand may carry naive datetimes: read them as UTC rather than fail to compare.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
