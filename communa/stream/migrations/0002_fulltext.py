from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from communa.stream import search


def _run(schema_editor: BaseDatabaseSchemaEditor, statements: dict[str, list[str]]) -> None:
    for sql in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql)


def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    search.ensure_fulltext(schema_editor.connection)


def backwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _run(schema_editor, {"sqlite": search.SQLITE_TEARDOWN, "postgresql": search.POSTGRES_TEARDOWN})


class Migration(migrations.Migration):
    dependencies = [("stream", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
