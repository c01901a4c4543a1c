"""Enrichment models benchmark: speed on one core, memory of a loaded worker, quality on the validation splits.

    .venv/bin/python bench/enrichment.py [--messages 4000] [--batch 256] [--core 0] [--data-dir ../shared/data]
                                         [--encoder-runtime auto|int8|numpy] [--skip-quality] [--json]

- speed: encoder + all four heads over realistic messages (the validation texts of ../shared/data in seven
  languages, normalised as the pipeline does), batched, in a child process pinned to one core with one BLAS
  thread; the encoder alone and the heads alone are timed too (the heads with the language detection that the
  sentiment head reads);
- memory: peak RSS of a fresh child process that imports the models, loads the encoder and every head, and
  classifies one batch;
- quality: every head on the full validation splits (never trained on), per source and language, and the
  functional toxicity cases (tests/enrichment_models/toxicity_cases.csv) per case type and language;
- the ratio against the issue's baseline (USE + one logistic regression: 0.60 sentiment macro-F1, 480 msg/s).

Results and how to read them: docs/benchmarks.md (Enrichment models) and docs/model-card.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE_MACRO_F1 = 0.60
BASELINE_MESSAGES_PER_SECOND = 480.0
RESULT_PREFIX = "BENCH_RESULT "
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=4000, help="messages timed for speed")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--core", type=int, default=0, help="the CPU the timed child is pinned to")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--encoder-runtime",
        choices=("auto", "int8", "numpy"),
        default="auto",
        help="the encoder runtime (settings.ENRICHMENT['ENCODER_RUNTIME']) the workers use",
    )
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    parser.add_argument(
        "--agreement",
        action="store_true",
        help="also compare the int8 and numpy encoders' vectors on every validation text (cosine percentiles)",
    )
    parser.add_argument("--worker", choices=("speed", "memory", "quality", "agreement"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def workload(data_dir: Path, count: int, *, every: bool = False) -> list[str]:
    """Realistic messages: validation texts of every task, interleaved so languages and lengths mix (with
    ``every``, all validation texts of the four tasks one after the other instead)."""
    from communa.enrichment.training.base import split_masks, training_examples

    pools = []
    for task in ("sentiment", "toxicity", "spam", "question"):
        examples = training_examples(task, data_dir, permissive_only=False)
        _train, val = split_masks(examples)
        pools.append([example.text for example, keep in zip(examples, val, strict=True) if keep])
    if every:
        return [text for pool in pools for text in pool]
    mixed = [text for group in zip(*pools, strict=False) for text in group]
    return (mixed * (count // max(len(mixed), 1) + 1))[:count]


def speed_worker(options: argparse.Namespace) -> dict[str, Any]:
    from communa.enrichment import models

    texts = workload(options.data_dir, options.messages)
    encoder = models.load_encoder()
    heads = [head for task in models.TASKS if (head := models.load_head(task)) is not None]
    warm = texts[: options.batch]
    _classify(encoder, heads, warm)
    batches = [texts[i : i + options.batch] for i in range(0, len(texts), options.batch)]
    with _Clock() as encode:
        encoded = [encoder.encode(batch) for batch in batches]
    _forget_text_caches()
    with _Clock() as apply_heads:
        for batch, embeddings in zip(batches, encoded, strict=True):
            _apply_heads(heads, embeddings, batch)
    _forget_text_caches()
    with _Clock() as full:
        for batch in batches:
            _classify(encoder, heads, batch)
    characters = sum(len(text) for text in texts) / len(texts)
    return {
        "encoder_runtime": _runtime_name(encoder),
        "messages": len(texts),
        "batch": options.batch,
        "mean_characters": round(characters, 1),
        "encode_per_second": round(len(texts) / encode.wall, 1),
        "heads_per_second": round(len(texts) / apply_heads.wall, 1),
        "full_per_second": round(len(texts) / full.wall, 1),
        # The same per second of the process's own CPU time: closer to the quiet figure while other jobs share
        # the core (they take wall time, not this process's CPU time), though never faster than it.
        "encode_per_cpu_second": round(len(texts) / encode.cpu, 1),
        "heads_per_cpu_second": round(len(texts) / apply_heads.cpu, 1),
        "full_per_cpu_second": round(len(texts) / full.cpu, 1),
    }


def _runtime_name(encoder: Any) -> str:
    """``numpy``, or ``int8`` with the kernel the CPU gets (``int8/avx2``: uint8 weights; ``int8/vnni``)."""
    path = getattr(encoder, "_int8", None)
    runtime = str(getattr(encoder, "runtime", "?"))
    return f"{runtime}/{path.kernel}" if path is not None else runtime


class _Clock:
    """Wall and process CPU seconds of a ``with`` block."""

    wall = cpu = 0.0

    def __enter__(self) -> _Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def _forget_text_caches() -> None:
    """Empty the heads' per-text and per-word caches, so each timed pass starts cold."""
    from communa.enrichment.models import features, ngrams

    caches = (features.cues, features.text_words, features.fold, features.fold_token)
    for cached in (*caches, ngrams.text_vector, ngrams.word_buckets):
        cached.cache_clear()
    features.lexicon().forget()


def _classify(encoder: Any, heads: list[Any], batch: list[str]) -> None:
    _apply_heads(heads, encoder.encode(batch), batch)


def _apply_heads(heads: list[Any], embeddings: Any, batch: list[str]) -> None:
    """Every head on the batch; the texts' languages are detected first when a head reads them (the sentiment
    head does), so their cost counts, as it does in the pipeline."""
    from communa.enrichment.language import language_codes

    languages = language_codes(batch) if any(getattr(head, "languages", ()) for head in heads) else None
    for head in heads:
        head.predict_proba(embeddings, batch, languages)


def memory_worker(options: argparse.Namespace) -> dict[str, Any]:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from communa.enrichment import models

    encoder = models.load_encoder()
    heads = [head for task in models.TASKS if (head := models.load_head(task)) is not None]
    texts = workload(options.data_dir, options.batch) if options.data_dir.is_dir() else ["hello"] * options.batch
    _classify(encoder, heads, texts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_mb": round(peak / 1024, 1), "interpreter_rss_mb": round(before / 1024, 1)}


def quality_worker(options: argparse.Namespace) -> dict[str, Any]:
    from communa.enrichment import models
    from communa.enrichment.language import language_codes
    from communa.enrichment.training.base import model_text, split_masks, training_examples
    from communa.enrichment.training.evaluation import evaluate
    from communa.enrichment.training.functional import accuracy_table, passes, read_cases
    from communa.enrichment.training.heads import SPECS, targets

    encoder = models.load_encoder()
    report: dict[str, Any] = {}
    for task in models.TASKS:
        examples = training_examples(task, options.data_dir, permissive_only=False)
        _train, val = split_masks(examples)
        rows = [example for example, keep in zip(examples, val, strict=True) if keep]
        texts = [example.text for example in rows]
        head = models.load_head(task)
        assert head is not None
        embeddings = encoder.encode(texts)
        proba = head.predict_proba(embeddings, texts, language_codes(texts))
        report[task] = evaluate(task, head.labels, rows, targets(SPECS[task], rows), proba)
    for task, name in (("toxicity", "functional"), ("question", "functional_questions")):
        cases = read_cases(ROOT / "tests" / "enrichment_models" / f"{task}_cases.csv")
        case_texts = [model_text(case.text) for case in cases]
        head = models.load_head(task)
        assert head is not None
        scores = head.predict_proba(encoder.encode(case_texts), case_texts, language_codes(case_texts))
        outcomes = [
            passes(case, dict(zip(head.labels, row, strict=True))) for case, row in zip(cases, scores, strict=True)
        ]
        report[name] = accuracy_table(cases, outcomes)
    return report


def agreement_worker(options: argparse.Namespace) -> dict[str, Any]:
    """Cosine between the int8 and the numpy runtime's vectors of every validation text."""
    import numpy as np

    from communa.enrichment.models.encoder import UniversalSentenceEncoder
    from communa.enrichment.models.runtime import data_dir

    texts = workload(options.data_dir, 0, every=True)
    int8 = UniversalSentenceEncoder("int8", cache_dir=data_dir() / "models" / "cache")
    if int8.runtime != "int8":
        return {"texts": len(texts), "runtime": int8.runtime}
    kernel = int8._int8.kernel if int8._int8 is not None else "?"
    cosine = np.einsum("ij,ij->i", int8.encode(texts), UniversalSentenceEncoder("numpy").encode(texts))
    points = {"min": 0.0, "p0.1": 0.1, "p1": 1.0, "p5": 5.0, "median": 50.0}
    result: dict[str, Any] = {name: round(float(np.percentile(cosine, q)), 4) for name, q in points.items()}
    return {
        **result,
        "mean": round(float(cosine.mean()), 4),
        "below_0.99": int((cosine < 0.99).sum()),
        "texts": len(texts),
        "kernel": kernel,
    }


def run_worker(kind: str, options: argparse.Namespace, pin: bool) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (pinned to one core for speed) and read its result line."""
    command = [sys.executable, __file__, "--worker", kind, "--messages", str(options.messages)]
    command += ["--batch", str(options.batch), "--data-dir", str(options.data_dir)]
    if pin and hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", str(options.core), *command]
    env = {**os.environ, **ONE_THREAD, "COMMUNA_ENCODER_RUNTIME": options.encoder_runtime}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode:
        raise SystemExit(f"{kind} worker failed:\n{result.stderr}")
    line = next(line for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX))
    return dict(json.loads(line.removeprefix(RESULT_PREFIX)))


def print_report(results: dict[str, Any]) -> None:
    speed, memory = results["speed"], results["memory"]
    print(
        f"## Speed ({speed['encoder_runtime']} encoder, one core, batches of {speed['batch']}, "
        f"{speed['messages']} messages of "
        f"{speed['mean_characters']:.0f} characters on average)"
    )
    print(
        f"- encoder + 4 heads: {speed['full_per_second']:.0f} messages/s "
        f"(×{speed['full_per_second'] / BASELINE_MESSAGES_PER_SECOND:.2f} the baseline's 480)"
    )
    print(
        f"- encoder alone: {speed['encode_per_second']:.0f} messages/s; 4 heads alone: {speed['heads_per_second']:.0f}"
    )
    print(
        f"- per CPU second of the process: encoder + 4 heads {speed['full_per_cpu_second']:.0f}, encoder "
        f"{speed['encode_per_cpu_second']:.0f}, heads {speed['heads_per_cpu_second']:.0f}"
    )
    print(f"- peak RSS with the models loaded and one batch classified: {memory['peak_rss_mb']:.0f} MB")
    agreement = results.get("agreement")
    if agreement:
        print(f"- int8 vs numpy vectors on {agreement['texts']} validation texts: {json.dumps(agreement)}")
    quality = results.get("quality")
    if not quality:
        return
    print("\n## Quality on the validation splits")
    for task in ("sentiment", "toxicity", "spam", "question"):
        for name, value in quality[task]["summary"].items():
            print(f"- {task}: {name} = {value:.3f}")
    six = quality["sentiment"]["summary"].get("xlm-t mean macro-F1 (en fr de it pt es)")
    if six:
        print(f"- sentiment ratio to the baseline's 0.60 macro-F1: ×{six / BASELINE_MACRO_F1:.3f}")
    for key, title in (("functional", "toxicity"), ("functional_questions", "question")):
        print(f"\n## Functional {title} cases (passed/total)")
        langs = ("en", "it", "es", "ru", "fr", "de", "pt", "all")
        print("| case type | " + " | ".join(langs) + " |")
        print("|---" * (len(langs) + 1) + "|")
        for kind, row in quality[key].items():
            cells = [f"{row[lang][0]}/{row[lang][1]}" if lang in row else "" for lang in langs]
            print(f"| {kind} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    if options.worker:
        # The sentiment head reads the texts' languages, and language detection reads its backend from the
        # settings; a real worker has them loaded too (so they count in its memory).
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "communa.config.settings")
        import django

        django.setup()
        workers = {"speed": speed_worker, "memory": memory_worker, "quality": quality_worker}
        worker = {**workers, "agreement": agreement_worker}[options.worker]
        print(RESULT_PREFIX + json.dumps(worker(options)))
        return
    if not options.data_dir.is_dir():
        raise SystemExit(f"No development data at {options.data_dir} (pass --data-dir).")
    results = {"speed": run_worker("speed", options, pin=True), "memory": run_worker("memory", options, pin=True)}
    if not options.skip_quality:
        results["quality"] = run_worker("quality", options, pin=False)
    if options.agreement:
        results["agreement"] = run_worker("agreement", options, pin=False)
    print_report(results)
    if options.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
