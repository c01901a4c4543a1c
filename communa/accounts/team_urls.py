from django.urls import path

from communa.accounts import team_views

app_name = "team"

urlpatterns = [
    path("", team_views.index, name="index"),
]
