from django.urls import path

from communa.members import manage_views, views
from communa.members.engagement import views as engagement_views

app_name = "members"

urlpatterns = [
    path("", manage_views.index, name="index"),
    path("suggestions/", views.suggestions, name="suggestions"),
    path("suggestions/<int:suggestion_id>/accept/", views.decide, {"decision": "accept"}, name="accept"),
    path("suggestions/<int:suggestion_id>/reject/", views.decide, {"decision": "reject"}, name="reject"),
    path("merges/<int:merge_id>/undo/", views.undo, name="undo"),
    path("<int:member_id>/", views.profile, name="profile"),
    # segments, CSV, annotations, privacy, bulk unmerge (manage_views.py)
    path("segments/save/", manage_views.save_segment, name="segment_save"),
    path("segments/delete/", manage_views.delete_segment, name="segment_delete"),
    path("export.csv", manage_views.export_csv, name="export_csv"),
    path("import/", manage_views.import_upload, name="import"),
    path("import/<int:import_id>/", manage_views.import_preview, name="import_preview"),
    path("import/<int:import_id>/status/", manage_views.import_status, name="import_status"),
    path("settings/", manage_views.settings_page, name="settings"),
    path("<int:member_id>/tags/add/", manage_views.tag_add, name="tag_add"),
    path("<int:member_id>/tags/remove/", manage_views.tag_remove, name="tag_remove"),
    path("<int:member_id>/notes/add/", manage_views.note_add, name="note_add"),
    path("<int:member_id>/notes/delete/", manage_views.note_delete, name="note_delete"),
    path("<int:member_id>/fields/", manage_views.fields_set, name="fields_set"),
    path("<int:member_id>/consent/", manage_views.consent_add, name="consent_add"),
    path("<int:member_id>/data.json", manage_views.data_export, {"fmt": "json"}, name="data_json"),
    path("<int:member_id>/data.html", manage_views.data_export, {"fmt": "html"}, name="data_html"),
    path("<int:member_id>/erase/", manage_views.erase, name="erase"),
    path("<int:member_id>/unmerge/", manage_views.unmerge_page, name="unmerge"),
    path("key-people/", engagement_views.key_people, name="key_people"),
    path("<int:member_id>/timeline/", engagement_views.timeline, name="timeline"),
]
