from django.urls import path

from communa.enrichment import views

app_name = "enrichment"

urlpatterns = [
    path("<int:message_id>/correct", views.correct, name="correct"),
]
