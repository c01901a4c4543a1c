from django.urls import path

from communa.outbox import views

app_name = "outbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("<int:delivery_id>/retry/", views.settle, {"decision": "retry"}, name="retry"),
    path("<int:delivery_id>/mark-sent/", views.settle, {"decision": "mark_sent"}, name="mark_sent"),
    path("<int:delivery_id>/cancel/", views.settle, {"decision": "cancel"}, name="cancel"),
]
