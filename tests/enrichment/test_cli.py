"""`communa classify` and `communa models eval|train` on small files."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from communa.enrichment.evaluation import macro_f1, roc_auc
from communa.enrichment.files import guard_cell
from tests.enrichment.conftest import TinyModels


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def table_rows(said: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of cell texts."""
    return [
        [cell.strip() for cell in line.strip("│ ").split("│")] for line in said.splitlines() if line.startswith("│")
    ]


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def test_classify_sentiment_csv(tmp_path: Path, tiny_models: TinyModels) -> None:
    source = write_csv(tmp_path / "in.csv", [{"id": "1", "body": "I love the new release, thanks"},
                                             {"id": "2", "body": "terrible support, I hate waiting"},
                                             {"id": "3", "body": ""}])  # fmt: skip
    output = tmp_path / "out.csv"

    said = run("classify", "--task", "sentiment", "--input", str(source), "--text-column", "body",
               "--output", str(output))  # fmt: skip

    assert said.strip() == f"3 rows labelled with sentiment → {output}"
    rows = read_csv(output)
    assert list(rows[0]) == ["id", "body", "language", "language_probability", "sentiment", "p_negative",
                             "p_neutral", "p_positive"]  # fmt: skip
    assert [(r["id"], r["language"], r["sentiment"], r["p_positive"]) for r in rows] == [
        ("1", "en", "positive", "0.8"), ("2", "en", "negative", "0.05"), ("3", "und", "", "")
    ]  # fmt: skip


def test_classify_toxicity_jsonl_with_reasons(tmp_path: Path, tiny_models: TinyModels) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "you are an idiot"}) + "\n\n" + json.dumps({"text": "lovely day"}) + "\n")
    output = tmp_path / "out.jsonl"

    run("classify", "--task", "toxicity", "--input", str(source), "--text-column", "text", "--output", str(output))

    first, second = [json.loads(line) for line in output.read_text().splitlines()]
    assert (first["toxic"], first["p_toxic"], first["p_insult"], first["p_threat"]) == (True, 0.9, 0.85, 0.05)
    assert first["reasons"] == 'insult 85%; insult: "idiot"'
    assert (second["toxic"], second["p_toxic"], second["reasons"]) == (False, 0.02, "")


def test_classify_language_tsv_needs_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from communa.enrichment import models

    def not_installed() -> None:
        raise AssertionError("language detection must not load the sentence encoder")

    monkeypatch.setattr(models, "load_encoder", not_installed)
    source = write_csv(tmp_path / "in.tsv", [{"t": "Buongiorno a tutti, come state?"}, {"t": "+1"}], delimiter="\t")
    output = tmp_path / "out.tsv"

    run("classify", "--task", "language", "--input", str(source), "--text-column", "t", "--output", str(output))

    assert [(r["t"], r["language"]) for r in read_csv(output, "\t")] == [("Buongiorno a tutti, come state?", "it"),
                                                                          ("'+1", "und")]  # fmt: skip


def test_csv_output_is_safe_against_formula_injection(tmp_path: Path, tiny_models: TinyModels) -> None:
    source = write_csv(tmp_path / "in.csv", [{"text": '=HYPERLINK("http://evil.example","click")', "note": "@SUM(1)"},
                                             {"text": "-2+3", "note": "\tcmd"}])  # fmt: skip
    output = tmp_path / "out.csv"
    run("classify", "--task", "spam", "--input", str(source), "--text-column", "text", "--output", str(output))
    rows = read_csv(output)
    assert [(r["text"], r["note"]) for r in rows] == [("'=HYPERLINK(\"http://evil.example\",\"click\")", "'@SUM(1)"),
                                                      ("'-2+3", "'\tcmd")]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "guarded"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@a", "'@a"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("fine", "fine"), ("", ""), (0.5, 0.5), (None, None)],
)  # fmt: skip
def test_guard_cell(value: object, guarded: object) -> None:
    assert guard_cell(value) == guarded


def test_classify_refuses_clearly(tmp_path: Path, tiny_models: TinyModels) -> None:
    source = write_csv(tmp_path / "in.csv", [{"body": "hello"}])
    output = tmp_path / "out.csv"
    with pytest.raises(CommandError, match=r"row 1 has no column 'text' \(it has: body\)"):
        run("classify", "--task", "sentiment", "--input", str(source), "--text-column", "text", "--output", str(output))
    with pytest.raises(CommandError, match="does not exist"):
        run("classify", "--task", "sentiment", "--input", str(tmp_path / "nope.csv"), "--text-column", "t",
            "--output", str(output))  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(CommandError, match="line 2 is not JSON"):
        run("classify", "--task", "sentiment", "--input", str(bad), "--text-column", "text", "--output", str(output))
    del tiny_models.heads["question"]
    with pytest.raises(CommandError, match="The question model is not installed"):
        run("classify", "--task", "question", "--input", str(source), "--text-column", "body", "--output", str(output))


def test_models_eval_prints_scores_per_language(tmp_path: Path, tiny_models: TinyModels) -> None:
    rows = [
        {"text": "I love this, great work", "label": "2", "lang": "en"},
        {"text": "I hate this, terrible", "label": "0", "lang": "en"},
        {"text": "the meeting is at noon", "label": "1", "lang": "en"},
        {"text": "che schifo di servizio", "label": "0", "lang": "it"},
        {"text": "grazie, molto bello", "label": "positive", "lang": "it"},
        {"text": "domani piove", "label": "positive", "lang": "it"},  # the tiny head says neutral: one miss
    ]
    source = write_csv(tmp_path / "val.csv", rows)

    said = run("models", "eval", "--task", "sentiment", "--input", str(source), "--label-column", "label",
               "--language-column", "lang")  # fmt: skip

    assert table_rows(said) == [["en", "3", "1.000"], ["it", "3", "0.556"], ["all", "6", "0.822"]]


def test_models_eval_binary_task_reports_roc_auc(tmp_path: Path, tiny_models: TinyModels) -> None:
    rows = [{"text": "buy cheap pills now", "spam": "spam"}, {"text": "see you tomorrow", "spam": "ham"},
            {"text": "visit the casino", "spam": "1"}, {"text": "nice photo", "spam": "0"}]  # fmt: skip
    source = write_csv(tmp_path / "sms.csv", rows)
    said = run("models", "eval", "--task", "spam", "--input", str(source), "--label-column", "spam")
    assert "ROC-AUC" in said
    assert table_rows(said) == [["en", "4", "1.000", "1.000"]]


def test_models_eval_refuses_unreadable_labels(tmp_path: Path, tiny_models: TinyModels) -> None:
    source = write_csv(tmp_path / "val.csv", [{"text": "hello", "label": "maybe"}])
    with pytest.raises(CommandError, match="row 1: cannot read 'maybe' as a sentiment label"):
        run("models", "eval", "--task", "sentiment", "--input", str(source), "--label-column", "label")


def test_models_train_hands_its_arguments_to_the_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []
    trainer = types.ModuleType("communa.enrichment.training")
    trainer.train_main = lambda argv: received.append(argv) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "communa.enrichment.training", trainer)

    run("models", "train", "--workspace", "acme", "--task", "toxicity")

    assert received == [["--workspace", "acme", "--task", "toxicity"]]


def test_models_train_without_trainer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "communa.enrichment.training", types.ModuleType("communa.enrichment.training"))
    with pytest.raises(CommandError, match=r"no entry point \(train_main\)"):
        run("models", "train")


def test_metrics() -> None:
    assert macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx((2 / 3 + 0.8) / 2)
    assert roc_auc([True, False, True, False], [0.9, 0.1, 0.4, 0.4]) == 0.875  # a tie counts half
    assert roc_auc([True, True], [0.1, 0.2]) is None


@pytest.mark.django_db
def test_enrich_backfills_messages_without_signals(fake_source: object, tiny_models: TinyModels) -> None:
    from communa.enrichment.services import enrich_messages
    from communa.enrichment.tables import MessageSignals
    from communa.ingest.services import ingest_events
    from tests.conftest import raw

    ids = ingest_events(source=fake_source, events=[raw(f"m{i}", text=f"hello {i}") for i in range(3)]).message_ids  # type: ignore[arg-type]
    enrich_messages(message_ids=ids[:1])
    tiny_models.encoder.calls.clear()

    assert run("enrich").splitlines()[-1] == "Done: 2 messages analysed."
    assert MessageSignals.objects.count() == 3
    assert tiny_models.encoder.calls == [2]  # only the two missing ones
    assert run("enrich", "--workspace", "acme", "--all").splitlines()[-1] == "Done: 3 messages analysed."
    with pytest.raises(CommandError, match="No workspace 'nope'"):
        run("enrich", "--workspace", "nope")
