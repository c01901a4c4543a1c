from django.urls import path

from communa.stream import views

app_name = "stream"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.new_count, name="new"),
]
