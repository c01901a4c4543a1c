"""The loading contract of communa.enrichment.models: shapes, labels, caching, determinism, workspace heads,
missing weights, shipped files, and that nothing touches the network."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from communa.enrichment import models
from communa.enrichment.models import runtime
from communa.enrichment.models.heads import read_head

TEXTS = [
    "this update is f***ing awesome",
    "Quelqu'un sait comment exporter les messages ?",
    "Ты жалкий идиот",
    "",
    "🎉🎉🎉",
]


@pytest.fixture(autouse=True)
def fresh_heads():
    models.clear_cache()
    yield
    models.clear_cache()


def test_encoder_gives_unit_float32_rows_and_is_cached():
    encoder = models.load_encoder()
    vectors = encoder.encode(TEXTS)
    assert isinstance(encoder, models.Encoder)
    assert models.load_encoder() is encoder
    assert (encoder.name, encoder.dimension) == ("use-multilingual-v3", 512)
    assert vectors.shape == (5, 512)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), np.ones(5), atol=1e-5)
    assert encoder.encode([]).shape == (0, 512)


def test_encoding_is_deterministic_and_independent_of_the_batch():
    encoder = models.load_encoder()
    together = encoder.encode(TEXTS)
    alone = np.vstack([encoder.encode([text]) for text in TEXTS])
    np.testing.assert_array_equal(encoder.encode(TEXTS), together)
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_similar_messages_are_close_across_languages():
    encoder = models.load_encoder()
    english, spanish, unrelated = encoder.encode(
        ["How do I reset my password?", "¿Cómo restablezco mi contraseña?", "The match last night was great"]
    )
    assert float(english @ spanish) > 0.7
    assert float(english @ unrelated) < float(english @ spanish) - 0.4


@pytest.mark.parametrize("task", models.TASKS)
def test_every_head_has_its_labels_and_gives_probabilities(task):
    head = models.load_head(task)
    assert head is not None
    assert isinstance(head, models.Head)
    assert head.labels == models.TASK_LABELS[task]
    assert head.task == task
    embeddings = models.load_encoder().encode(TEXTS)
    probabilities = head.predict_proba(embeddings, TEXTS)
    assert probabilities.shape == (5, len(head.labels))
    assert probabilities.dtype == np.float32
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_array_equal(head.predict_proba(embeddings, TEXTS), probabilities)
    reasons = head.explain(TEXTS, probabilities)
    assert len(reasons) == 5
    assert all(isinstance(reason, dict) and reason["code"] for row in reasons for reason in row)
    assert models.load_head(task) is head


def test_sentiment_is_one_distribution_per_text():
    head = models.load_head("sentiment")
    assert head is not None
    probabilities = head.predict_proba(models.load_encoder().encode(TEXTS), TEXTS)
    np.testing.assert_allclose(probabilities.sum(axis=1), np.ones(5), atol=1e-5)


def test_the_sentiment_head_reads_the_language_it_is_given():
    head = models.load_head("sentiment")
    assert set(head.languages) >= {"en", "it", "es", "ru", "fr", "de", "pt"}
    texts = ["Che bella giornata, finalmente!", "Qué bonito día, ¡por fin!"]
    embeddings = models.load_encoder().encode(texts)
    unknown = head.predict_proba(embeddings, texts)
    # "und", or a language the head was not trained on, reads as no language at all.
    np.testing.assert_array_equal(head.predict_proba(embeddings, texts, ["und", "nl"]), unknown)
    known = head.predict_proba(embeddings, texts, ["it", "es"])
    np.testing.assert_allclose(known.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(known, unknown)
    assert not np.allclose(known, head.predict_proba(embeddings, texts, ["es", "it"]))
    assert list(known.argmax(axis=1)) == [2, 2]  # positive
    with pytest.raises(ValueError, match="1 languages for 2 texts"):
        head.predict_proba(embeddings, texts, ["it"])


def test_head_versions_are_the_manifest_ones():
    manifest = json.loads((runtime.WEIGHTS_DIR / "manifest.json").read_text())
    for task in models.TASKS:
        head = models.load_head(task)
        assert head is not None
        assert head.version == manifest["heads"][task]["version"]
        assert head.version.startswith(f"{task}-1.")


def test_unknown_task_and_mismatched_batch_are_refused():
    with pytest.raises(ValueError, match="unknown task 'emotion'"):
        models.load_head("emotion")
    head = models.load_head("spam")
    assert head is not None
    with pytest.raises(ValueError, match="2 texts for 1 embeddings"):
        head.predict_proba(np.zeros((1, 512), dtype=np.float32), ["a", "b"])
    assert head.predict_proba(np.zeros((0, 512), dtype=np.float32), []).shape == (0, 1)


def test_missing_weights_give_none(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "WEIGHTS_DIR", tmp_path)
    assert models.load_head("toxicity") is None
    assert models.load_head("toxicity", workspace_id=7) is None


def test_a_workspace_head_is_preferred_for_that_workspace_only(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    own = runtime.workspace_head_path(7, "spam")
    own.parent.mkdir(parents=True)
    shutil.copy(runtime.WEIGHTS_DIR / "spam.npz", own)
    shipped = read_head(runtime.WEIGHTS_DIR / "spam.npz")
    from communa.enrichment.models.heads import write_head

    write_head(own, dict(shipped.meta, version="spam-ws7-test"), shipped.arrays())
    assert own == tmp_path / "models" / "workspaces" / "7" / "spam.npz"
    assert models.load_head("spam", workspace_id=7).version == "spam-ws7-test"
    assert models.load_head("spam", workspace_id=8).version == shipped.version
    assert models.load_head("spam").version == shipped.version


def test_shipped_files_match_the_manifest_and_stay_small():
    manifest = json.loads((runtime.WEIGHTS_DIR / "manifest.json").read_text())
    total = 0
    for task, entry in manifest["heads"].items():
        data = (runtime.WEIGHTS_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], task
        assert len(data) == entry["bytes"]
        total += len(data)
    assert set(manifest["heads"]) == set(models.TASKS)
    assert total < 6_000_000


NO_NETWORK = """
import socket, numpy
def refuse(*args, **kwargs):
    raise RuntimeError("network access attempted")
# Connecting, resolving and sending are refused; socket.socket stays a class, so modules that merely subclass it
# (ssl, which ONNX's import reaches through urllib) still import.
for name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, name, refuse)
socket.create_connection = refuse
socket.getaddrinfo = refuse
from communa.enrichment import models
texts = ["this update is f***ing awesome", "¿alguien sabe cómo?"]
embeddings = models.load_encoder().encode(texts)
for task in models.TASKS:
    head = models.load_head(task)
    assert head is not None, task
    assert head.predict_proba(embeddings, texts).shape == (2, len(head.labels))
print("offline ok")
"""


def test_everything_loads_and_runs_with_the_network_impossible():
    result = subprocess.run(
        [sys.executable, "-c", NO_NETWORK],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "offline ok"
