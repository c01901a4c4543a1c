"""Read-only report share links: no login, no workspace data beyond the one report (see reporting/)."""

from django.urls import path

from communa.analytics import views

app_name = "analytics_shared"

urlpatterns = [
    path("<str:token>/", views.shared_report, name="report"),
    path("<str:token>/pdf/", views.shared_report_pdf, name="report_pdf"),
]
