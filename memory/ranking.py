"""How retrieved episodes are ordered: with a URL the same site's episodes come first; within each group, embedding
similarity nudged by recency, proven usefulness (and, for the record, same site).

Without a URL the site is not known, but the nearest episodes usually agree on it: the site their similarities vote
for gets a bonus (`likely_site`), so one odd neighbour from another site does not take a place among the top k.
On WebVoyager's tasks this took MiniLM's site-precision@5 without a URL from 0.80 to 0.87 and the hashing embedder's
from 0.53 to 0.62 (bench/bench_relevance.py); it only orders hits and never marks one as the run's site (coach/scope.py
decides what crosses sites from the run's own URL).

Pure functions over values: the store fetches candidates (the nearest by embedding, plus the site's own when the
nearest hold too few of them) and calls `order` on the few fields it stored beside each vector; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from webcoach.condenser.episode import Episode
from webcoach.condenser.site import as_site

T = TypeVar("T")

# Second-level labels under which a country code TLD sells names (amazon.co.uk): the site is one label further left.
# A stand-in until a public-suffix-based site module replaces site_key; only its answers need to stay stable.


@dataclass(frozen=True, kw_only=True)
class RetrievalWeights:
    similarity: float = 1.0
    recency: float = 0.15
    half_life_days: float = 14.0  # an episode this old gets half the recency bonus of a fresh one
    usefulness: float = 0.25
    same_site: float = 0.15
    likely_site: float = 0.15  # no URL: bonus for the site the nearest `site_vote` candidates vote for
    site_vote: int = 8  # how many of the most similar candidates vote (0: no vote)
    overfetch: int = 32  # nearest neighbours fetched by similarity before re-ranking
    min_similarity: float = 0.0  # candidates below this similarity are dropped, whatever their other merits

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days}")
        if self.overfetch < 1:
            raise ValueError(f"overfetch must be >= 1, got {self.overfetch}")
        if self.site_vote < 0:
            raise ValueError(f"site_vote must be >= 0, got {self.site_vote}")


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One retrieved episode with its score and the parts the score was made of (for explaining advice)."""

    episode: Episode
    score: float
    similarity: float
    recency: float  # 1.0 for a fresh episode, 0.5 after one half-life
    usefulness: float  # 0.5 = no evidence yet
    same_site: bool
    likely_site: bool = False  # no URL: of the site the nearest episodes voted for (it got the likely_site bonus)


@dataclass(frozen=True, kw_only=True)
class RankFields:
    """What ranking reads of a stored episode; the store keeps these beside the vector so it need not decode bodies."""

    site: str | None
    created_at: float  # POSIX seconds
    helped: int
    hurt: int


@dataclass(frozen=True, kw_only=True)
class Scored(Generic[T]):
    item: T
    score: float
    similarity: float
    recency: float
    usefulness: float
    same_site: bool
    created_at: float
    likely_site: bool = False


def site_key(domain_or_url: str | None) -> str | None:
    """The site a host belongs to (docs.python.org and python.org are one site; amazon.co.uk is not co.uk), as
    everywhere (condenser/site.py)."""
    return as_site(domain_or_url)


def same_site(domain: str | None, other: str | None) -> bool:
    """One site (see site_key): docs.python.org ~ python.org, but python.org !~ jython.org."""
    a, b = site_key(domain), site_key(other)
    return a is not None and a == b


def recency(created_at: datetime, now: datetime, half_life_days: float) -> float:
    return _recency(_aware(created_at).timestamp(), _aware(now).timestamp(), half_life_days)


def _recency(created_at: float, now: float, half_life_days: float) -> float:
    age_days = max(0.0, (now - created_at) / 86400)
    return float(0.5 ** (age_days / half_life_days))


def order(
    candidates: Iterable[tuple[T, RankFields, float]],
    *,
    url: str | None,
    now: datetime | None = None,
    weights: RetrievalWeights | None = None,
    k: int | None = None,
) -> list[Scored[T]]:
    """(item, fields, similarity) -> best first, at most k. Scored by
    w_sim*similarity + w_rec*0.5**(age/half_life) + w_use*(usefulness-0.5)*2 + w_site*[same site]
    (+ w_likely*[the site the nearest vote for], when there is no URL);
    with a URL, same-site items come before all others (ties: more similar, then newer, then the item's order given)."""
    w = weights or RetrievalWeights()
    when = _aware(now or datetime.now(UTC)).timestamp()
    site = site_key(url)
    kept = [(item, fields, sim) for item, fields, sim in candidates if sim >= w.min_similarity]
    likely = likely_site(kept, w.site_vote) if site is None and w.likely_site else None
    scored: list[Scored[T]] = []
    for item, fields, similarity in kept:
        rec = _recency(fields.created_at, when, w.half_life_days)
        use = (fields.helped + 1) / (fields.helped + fields.hurt + 2)
        here = site is not None and fields.site == site
        total = w.similarity * similarity + w.recency * rec + w.usefulness * (use - 0.5) * 2 + w.same_site * float(here)
        guessed = likely is not None and fields.site == likely
        total += w.likely_site * float(guessed)
        scored.append(
            Scored(
                item=item,
                score=total,
                similarity=similarity,
                recency=rec,
                usefulness=use,
                same_site=here,
                created_at=fields.created_at,
                likely_site=guessed,
            )
        )
    scored.sort(key=lambda s: (not s.same_site, -s.score, -s.similarity, -s.created_at))
    return scored if k is None else scored[:k]


def likely_site(candidates: Sequence[tuple[object, RankFields, float]], voters: int) -> str | None:
    """The site the `voters` most similar candidates point to, each voting with its similarity (None: no vote)."""
    votes: dict[str, float] = {}
    for _, fields, similarity in sorted(candidates, key=lambda c: -c[2])[:voters]:
        if fields.site:
            votes[fields.site] = votes.get(fields.site, 0.0) + max(similarity, 0.0)
    if not votes or max(votes.values()) <= 0:
        return None
    return max(sorted(votes), key=lambda s: votes[s])  # sorted first: a tie goes to the same site every time


def fields_of(episode: Episode) -> RankFields:
    return RankFields(
        site=site_key(episode.domain or episode.start_url),
        created_at=_aware(episode.created_at).timestamp(),
        helped=episode.helped,
        hurt=episode.hurt,
    )


def hits(scored: Sequence[Scored[Episode]]) -> list[Hit]:
    return [
        Hit(
            episode=s.item,
            score=s.score,
            similarity=s.similarity,
            recency=s.recency,
            usefulness=s.usefulness,
            same_site=s.same_site,
            likely_site=s.likely_site,
        )
        for s in scored
    ]


def rank(
    candidates: Iterable[tuple[Episode, float]],
    *,
    url: str | None,
    now: datetime | None = None,
    weights: RetrievalWeights | None = None,
    k: int | None = None,
) -> list[Hit]:
    """(episode, similarity) pairs -> Hits best first, at most k (see `order`; ties end on the episode id)."""
    pairs = sorted(candidates, key=lambda p: p[0].id)  # a stable last tie-break on the id
    return hits(order(((ep, fields_of(ep), sim) for ep, sim in pairs), url=url, now=now, weights=weights, k=k))


def _aware(moment: datetime) -> datetime:
    # Episodes written by hand may carry naive datetimes: read them as UTC rather than fail to compare.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
