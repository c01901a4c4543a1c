from django.urls import path

from communa.analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("community/", views.area, {"page": "community"}, name="community"),
    path("conversations/", views.area, {"page": "conversations"}, name="conversations"),
    path("sentiment/", views.area, {"page": "sentiment"}, name="sentiment"),
    path("topics/", views.area, {"page": "topics"}, name="topics"),
    path("csv/<slug:page>/<slug:chart>.csv", views.chart_csv, name="chart_csv"),
    path("drill/", views.drill, name="drill"),
    path("goals/", views.goals, name="goals"),
    path("goals/new/", views.goal_edit, name="goal_new"),
    path("goals/<int:goal_id>/edit/", views.goal_edit, name="goal_edit"),
    path("goals/<int:goal_id>/archive/", views.goal_archive, name="goal_archive"),
    path("goals/alerts/<int:notice_id>/read/", views.goal_alert_read, name="goal_alert_read"),
    path("reports/", views.reports, name="reports"),
    path("reports/generate/", views.report_generate, name="report_generate"),
    path("reports/<int:report_id>/", views.report, name="report"),
    path("reports/<int:report_id>/pdf/", views.report_pdf, name="report_pdf"),
    path("reports/<int:report_id>/share/", views.share_create, name="share_create"),
    path("reports/shares/<int:link_id>/revoke/", views.share_revoke, name="share_revoke"),
    path("reports/schedules/new/", views.schedule_edit, name="schedule_new"),
    path("reports/schedules/<int:schedule_id>/edit/", views.schedule_edit, name="schedule_edit"),
    path("reports/schedules/<int:schedule_id>/delete/", views.schedule_delete, name="schedule_delete"),
]
