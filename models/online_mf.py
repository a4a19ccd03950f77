"""An online matrix-factorisation scorer: River's ``BiasedMF`` learned from every interaction.

Implicit feedback has only positives, so each learned interaction is a positive example (``y = 1``) and
one item drawn from a bounded pool of recently seen items is a negative (``y = 0``); a seeded generator
keeps training deterministic for a given event order. Scores are the model's prediction clipped to
[0, 1]. Until ``min_examples`` interactions have been learned the scorer reports itself not ready
(``ready``), and callers keep the ranking without it.

Scoring is one matrix-vector product per user over the candidate items. State lives in the worker's
memory (it is a scorer, not a statistic): a restarted worker starts cold and relearns from the live
stream. It grows with the users and items it has learned (16 floats and a bias each).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from river import optim, reco


class OnlineMFScorer:
    """``BiasedMF`` with sampled negatives; see the module docstring."""

    name = "online_mf"
    version = "1"

    def __init__(self, n_factors: int = 16, learning_rate: float = 0.05, l2: float = 0.01, pool: int = 5_000,
                 min_examples: int = 500, seed: int = 7) -> None:
        self.min_examples = min_examples
        self.learned = 0
        self._rng = random.Random(seed)
        self._pool: list[str] = []
        self._pool_size = pool
        self._model = reco.BiasedMF(
            n_factors=n_factors,
            bias_optimizer=optim.SGD(learning_rate),
            latent_optimizer=optim.SGD(learning_rate),
            l2_bias=l2,
            l2_latent=l2,
            seed=seed,
        )

    @property
    def ready(self) -> bool:
        return self.learned >= self.min_examples

    def learn_one(self, user_id: str, item_id: str, weight: float = 1.0) -> None:
        if weight <= 0:
            return
        self._model.learn_one(user_id, item_id, 1.0)
        if self._pool:
            negative = self._pool[self._rng.randrange(len(self._pool))]
            if negative != item_id:
                self._model.learn_one(user_id, negative, 0.0)
        # A bounded pool of recent items, replaced at random once full: negatives follow current traffic.
        if len(self._pool) < self._pool_size:
            self._pool.append(item_id)
        else:
            self._pool[self._rng.randrange(self._pool_size)] = item_id
        self.learned += 1

    def score_many(self, user_ids: Sequence[str], item_ids: Sequence[Sequence[str]]) -> list[list[float]]:
        # Read the model's tables with .get: River's own predict_one inserts unseen users and items
        # (its tables are defaultdicts), which would make scoring grow the model.
        m = self._model
        base = m.global_mean.get()
        out: list[list[float]] = []
        for user, items in zip(user_ids, item_ids, strict=True):
            biases = np.array([m.i_biases.get(item, 0.0) for item in items], dtype=float)
            scores = base + m.u_biases.get(user, 0.0) + biases
            user_vec = m.u_latents.get(user)
            rows: list[int] = []
            vectors: list[np.ndarray] = []
            for n, item in enumerate(items):
                vector = m.i_latents.get(item)
                if vector is not None:
                    rows.append(n)
                    vectors.append(vector)
            if user_vec is not None and rows:
                scores[rows] += np.stack(vectors) @ user_vec
            out.append([min(1.0, max(0.0, float(s))) for s in scores])
        return out

    def score_one(self, user_id: str, item_id: str) -> float:
        return self.score_many([user_id], [[item_id]])[0][0]
