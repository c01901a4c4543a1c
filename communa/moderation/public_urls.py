"""Pages a member opens without an account: the signed appeal link."""

from django.urls import path

from communa.moderation import views

app_name = "moderation_public"

urlpatterns = [
    path("<str:token>/", views.public_appeal, name="appeal"),
]
