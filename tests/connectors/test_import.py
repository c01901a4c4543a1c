"""The import connector through `communa import`: both formats, bad rows, bad files, re-import."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from communa.accounts.models import Workspace
from communa.audit.models import AuditEntry
from communa.connectors.base import RawItem
from communa.connectors.imports.connector import ImportConfig, ImportConnector
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import create_source
from communa.ingest import services as ingest_services
from communa.ingest.models import RawEvent
from communa.members.models import Identity, Member
from communa.stream.models import Message, Thread
from tests.connectors.conftest import FIXTURES

pytestmark = pytest.mark.django_db

IMPORTS = FIXTURES / "import"


@pytest.fixture
def source(workspace: Workspace) -> Source:
    config = ImportConfig(platform="discourse:forum.example.com")
    return create_source(workspace=workspace, kind="import", name="Forum archive", config=config, actor=None)


def run_import(path: Path, source: Source, *args: str) -> str:
    out = io.StringIO()
    call_command("import", str(path), "--source", str(source.pk), *args, stdout=out)
    return out.getvalue()


def stored() -> dict[str, Any]:
    return {
        "messages": sorted(
            Message.objects.values_list(
                "external_id", "kind", "title", "text", "thread__external_id", "parent__external_id", "created_at"
            )
        ),
        "identities": sorted(
            Identity.objects.values_list("platform", "external_id", "display_name", "handle", "email")
        ),
        "members": Member.objects.count(),
        "threads": sorted(Thread.objects.values_list("external_id", "title", "message_count")),
        "raw": RawEvent.objects.count(),
    }


def assert_nothing_stored() -> None:
    assert stored() == {"messages": [], "identities": [], "members": 0, "threads": [], "raw": 0}


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def ndjson_row(number: int, **extra: Any) -> str:
    row = {"id": f"m-{number}", "created_at": "2026-01-10T10:00:00+00:00", "author_id": f"a-{number % 7}", **extra}
    return json.dumps(row) + "\n"


# --- NDJSON ---------------------------------------------------------------------------------------


def test_ndjson_import(source: Source) -> None:
    output = run_import(IMPORTS / "forum.ndjson", source)

    assert output == (
        f'forum.ndjson → source {source.pk} "Forum archive" (workspace acme)\n'
        "  rows read:                          4\n"
        "  messages created:                   4\n"
        "  messages already there:             0  (updated to the file's version)\n"
        "  rows rejected:                      0\n"
    )
    assert stored()["messages"] == [
        ("post-101", "post", "Welcome thread: introduce yourself!",
         "Hi all, I'm Lena and I look after this forum. Say hello 👋", "topic-12", None,
         datetime(2025, 11, 3, 9, 12, tzinfo=UTC)),
        ("post-102", "comment", "", "Hello from Osaka! I maintain the Japanese docs.", "topic-12", "post-101",
         datetime(2025, 11, 3, 9, 40, 31, tzinfo=UTC)),
        ("post-103", "comment", "", "Welcome Kenji! The docs team meets on Thursdays.", "topic-12", "post-102",
         datetime(2025, 11, 4, 18, 5, 9, tzinfo=UTC)),
        ("post-201", "post", "¿Cómo cambio el idioma de la interfaz?",
         "No encuentro la opción en el perfil.\n¿Alguien sabe dónde está?", "topic-20", None,
         datetime(2025, 11, 5, 12, 0, tzinfo=UTC)),
    ]  # fmt: skip
    assert sorted(Identity.objects.values_list("platform", "external_id", "display_name", "handle")) == [
        ("discourse:forum.example.com", "17", "Lena Fischer", "lena"),
        ("discourse:forum.example.com", "23", "Kenji Watanabe", "kenji"),
        ("discourse:forum.example.com", "88", "María José Ortega", "mjortega"),
    ]
    assert Member.objects.count() == 3
    welcome = Message.objects.get(external_id="post-101")
    assert (welcome.url, welcome.language, welcome.metadata) == (
        "https://forum.example.com/t/12/1",
        "en",
        {"category": "Meta", "likes": 14},
    )
    assert Message.objects.get(external_id="post-103").metadata == {}  # null means "not given"
    assert stored()["threads"] == [
        ("topic-12", "", 3),  # the root's id is post-101, so the thread (topic-12) has no root title
        ("topic-20", "", 1),
    ]
    entry = AuditEntry.objects.get(action="source.imported")
    assert entry.data == {"file": "forum.ndjson", "format": "ndjson", "rows": 4, "created": 4, "updated": 0,
                          "rejected": 0}  # fmt: skip


def test_reimporting_the_same_file_leaves_the_same_rows(source: Source) -> None:
    run_import(IMPORTS / "forum.ndjson", source)
    before = stored()

    output = run_import(IMPORTS / "forum.ndjson", source)

    assert "  messages created:                   0\n" in output
    assert "  messages already there:             4  (updated to the file's version)\n" in output
    assert stored() == before


def test_bad_ndjson_rows_are_skipped_with_line_and_reason(source: Source) -> None:
    output = run_import(IMPORTS / "bad-rows.ndjson", source)

    assert output == (
        f'bad-rows.ndjson → source {source.pk} "Forum archive" (workspace acme)\n'
        "  rows read:                         10\n"
        "  messages created:                   2\n"
        "  messages already there:             0  (updated to the file's version)\n"
        "  rows rejected:                      8\n"
        "    line 2: created_at: Field required\n"
        "    line 3: created_at: Input should have timezone info\n"
        "    line 4: not valid JSON (Expecting value at column 1)\n"
        "    line 5: not a JSON object\n"
        "    line 6: id: String should have at least 1 character\n"
        "    line 7: kind: Input should be 'post', 'comment', 'chat', 'email', 'reaction', 'join', 'leave', 'article'"
        " or 'other'\n"
        "    line 8: url: must be an http:// or https:// URL\n"
        "    line 9: metadata: Input should be a valid dictionary\n"
        "  ignored fields: score\n"
    )
    assert sorted(Message.objects.values_list("external_id", "text")) == [
        ("ok-1", "first good row"),
        ("ok-2", "second good row"),
    ]
    assert RawEvent.objects.count() == 2  # rejected rows are not stored at all


def test_only_the_first_twenty_rejections_are_listed(source: Source, tmp_path: Path) -> None:
    rows = [ndjson_row(0)] + ['{"id": "x"}\n'] * 25
    path = write(tmp_path, "many.ndjson", "".join(rows))

    output = run_import(path, source)

    listed = [line for line in output.splitlines() if line.startswith("    line ")]
    assert len(listed) == 20
    assert listed[0] == "    line 2: created_at: Field required; author_id: Field required"
    assert listed[-1] == "    line 21: created_at: Field required; author_id: Field required"
    assert "    … and 5 more\n" in output


def test_rows_go_to_ingest_in_batches_of_a_thousand(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "big.jsonl", "".join(ndjson_row(n, text=f"message {n}") for n in range(2500)))
    sizes: list[int] = []
    real_ingest = ingest_services.ingest_events

    def counting_ingest(**kwargs: Any) -> ingest_services.IngestResult:
        sizes.append(len(kwargs["events"]))
        return real_ingest(**kwargs)

    monkeypatch.setattr("communa.ingest.management.commands.import.ingest_events", counting_ingest)

    output = run_import(path, source)

    assert sizes == [1000, 1000, 500]
    assert "  messages created:               2,500\n" in output
    assert Message.objects.count() == 2500
    assert Identity.objects.count() == 7


def test_a_row_nested_too_deeply_is_rejected_not_a_crash(source: Source, tmp_path: Path) -> None:
    path = write(tmp_path, "deep.ndjson", ndjson_row(1) + "[" * 100_000 + "]" * 100_000 + "\n")

    output = run_import(path, source)

    assert "    line 2: not valid JSON (nested too deeply)\n" in output
    assert Message.objects.count() == 1


def test_invalid_utf8_is_replaced(source: Source, tmp_path: Path) -> None:
    line = b'{"id": "u1", "created_at": "2026-01-10T10:00:00Z", "author_id": "a", "text": "caf\xc3\xa9 \xff\xfe ok"}\n'
    path = write(tmp_path, "latin.ndjson", line)

    run_import(path, source)

    assert Message.objects.get(external_id="u1").text == "café \ufffd\ufffd ok"


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_import_with_a_byte_order_mark(source: Source) -> None:
    output = run_import(IMPORTS / "forum.csv", source)

    assert "  messages created:                   3\n" in output
    assert output.endswith("  ignored fields: votes\n")
    assert stored()["messages"] == [
        ("501", "post", "Seed swap in March?",
         'Shall we do the seed swap again?\nSame place as last year, "behind the library".', "501", None,
         datetime(2025, 12, 1, 8, 0, tzinfo=UTC)),
        ("502", "comment", "", "Yes! I can bring tomato seeds, 3 varieties.", "501", "501",
         datetime(2025, 12, 1, 9, 30, tzinfo=UTC)),
        ("503", "comment", "", "Great — booking the room.", "501", "502", datetime(2025, 12, 2, 11, 15, tzinfo=UTC)),
    ]  # fmt: skip
    assert stored()["identities"] == [
        ("discourse:forum.example.com", "u-14", "Okafor, Dana", "dana", ""),
        ("discourse:forum.example.com", "u-9", "Priya Raman", "priya", "priya@example.org"),
    ]
    assert stored()["threads"] == [("501", "Seed swap in March?", 3)]


def test_csv_reimport_is_idempotent(source: Source) -> None:
    run_import(IMPORTS / "forum.csv", source)
    before = stored()

    run_import(IMPORTS / "forum.csv", source)

    assert stored() == before


def test_bad_csv_rows_are_skipped_with_line_and_reason(source: Source) -> None:
    output = run_import(IMPORTS / "bad-rows.csv", source)

    assert (
        "  rows read:                          5\n"
        "  messages created:                   2\n"
        "  messages already there:             0  (updated to the file's version)\n"
        "  rows rejected:                      3\n"
        "    line 3: created_at: Field required\n"
        "    line 4: has 6 columns, the header has 4\n"
        "    line 5: created_at: Input should be a valid datetime or date, input is too short\n"
    ) in output
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["c-1", "c-5"]


def test_a_multiline_cell_is_reported_at_the_line_where_its_row_starts(source: Source, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lines.csv",
        'id,created_at,author_id,text\nr1,2026-01-10T10:00:00Z,a,"one\ntwo\nthree"\nr2,,a,x\n',
    )

    output = run_import(path, source)

    assert "    line 5: created_at: Field required\n" in output


# --- files that cannot be imported ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("empty.ndjson", "", (), "empty.ndjson: the file is empty; nothing was imported"),
        ("blank.ndjson", "\n\n  \n", (), "blank.ndjson: the file is empty; nothing was imported"),
        ("empty.csv", "\ufeff", (), "empty.csv: the file is empty; nothing was imported"),
        ("header.csv", "id,created_at,author_id\n", (), "header.csv has no rows to import; nothing was imported"),
        (
            "rows.csv",
            "id,created_at,author_id\n1,2026-01-10T10:00:00Z,a\n",
            ("--format", "ndjson"),
            "rows.csv: this is not NDJSON: line 1: not valid JSON (Expecting value at column 1); nothing was imported",
        ),
        (
            "export.csv",
            "id,author,body\n1,ana,hello\n",
            (),
            "export.csv: this is not an import CSV: the header line lacks created_at, author_id"
            " (it has: id, author, body); nothing was imported",
        ),
        (
            "data.ndjson",
            '{"id": "1", "created_at": "2026-01-10T10:00:00Z", "author_id": "a"}\n',
            ("--format", "csv"),
            "data.ndjson: this is not an import CSV: the header line lacks id, created_at, author_id"
            ' (it has: {"id": "1", "created_at": "2026-01-10t10:00:00z", "author_id": "a"}); nothing was imported',
        ),
        ("notes.txt", "hello", (), "cannot tell the format of notes.txt from its extension: pass --format ndjson or"
         " --format csv"),
        ("all-bad.ndjson", '{"id": "x"}\n', (), "no row of all-bad.ndjson could be imported"),
        ("array.ndjson", '["a"]\n', (), "array.ndjson: this is not NDJSON: line 1: not a JSON object;"
         " nothing was imported"),
    ],
)  # fmt: skip
def test_files_that_cannot_be_imported_exit_nonzero_and_store_nothing(
    source: Source, tmp_path: Path, name: str, content: str, args: tuple[str, ...], message: str
) -> None:
    path = write(tmp_path, name, content)

    with pytest.raises(CommandError) as error:
        run_import(path, source, *args)

    assert str(error.value) == message
    assert_nothing_stored()
    assert not AuditEntry.objects.filter(action="source.imported").exists()


def test_a_file_with_another_extension_imports_with_format(source: Source, tmp_path: Path) -> None:
    path = write(tmp_path, "export.txt", ndjson_row(1))

    assert "  messages created:                   1\n" in run_import(path, source, "--format", "ndjson")


def test_a_missing_file(source: Source, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"^no such file: .*nope\.ndjson$"):
        run_import(tmp_path / "nope.ndjson", source)


# --- which source ---------------------------------------------------------------------------------


def test_the_source_must_be_an_import_source(workspace: Workspace, fake_source: Source) -> None:
    with pytest.raises(CommandError) as error:
        run_import(IMPORTS / "forum.ndjson", fake_source)

    assert str(error.value) == (
        f'source {fake_source.pk} ("Fake room") is a fake source: files go into a source of kind "import"'
    )
    assert_nothing_stored()


def test_the_workspace_must_match(source: Source, other_workspace: Workspace) -> None:
    with pytest.raises(CommandError) as error:
        run_import(IMPORTS / "forum.ndjson", source, "--workspace", "rival")

    assert str(error.value) == f"there is no source with id {source.pk} in workspace 'rival'"
    assert_nothing_stored()
    assert "rows read" in run_import(IMPORTS / "forum.ndjson", source, "--workspace", "acme")


def test_a_paused_source_refuses_imports(source: Source) -> None:
    Source.objects.filter(pk=source.pk).update(status=SourceStatus.PAUSED)

    with pytest.raises(CommandError, match=r'^source \d+ \("Forum archive"\) is paused: resume it first$'):
        run_import(IMPORTS / "forum.ndjson", source)

    assert_nothing_stored()


def test_an_unknown_source(db: None) -> None:
    with pytest.raises(CommandError, match=r"^there is no source with id 999999$"):
        call_command("import", str(IMPORTS / "forum.ndjson"), "--source", "999999")


# --- the pure normalizer --------------------------------------------------------------------------


def test_normalize_reads_a_stored_row() -> None:
    connector = ImportConnector(ImportConfig(platform="mailman:lists.example.org"))
    payload = {"id": "<a1@example.org>", "created_at": "2026-01-10T10:00:00+02:00", "author_id": "ana@example.org",
               "author_name": "Ana", "kind": "email", "text": "Hello list"}  # fmt: skip

    (message,) = connector.normalize(RawItem(external_id="<a1@example.org>", payload=payload))

    assert (message.external_id, message.kind, message.text) == ("<a1@example.org>", "email", "Hello list")
    assert message.created_at == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert message.author is not None
    assert (message.author.platform, message.author.external_id, message.author.display_name) == (
        "mailman:lists.example.org",
        "ana@example.org",
        "Ana",
    )


def test_config_needs_a_platform() -> None:
    with pytest.raises(ValueError, match="platform"):
        ImportConfig.model_validate({})
