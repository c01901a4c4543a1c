from django.urls import path

from communa.connectors import views

app_name = "sources"

urlpatterns = [
    path("", views.index, name="index"),
]
