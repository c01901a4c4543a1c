from django.urls import path

from communa.ingest import views

app_name = "hooks"

urlpatterns = [
    path("<str:token>", views.receive_webhook, name="receive"),
]
