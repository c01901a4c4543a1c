from django.urls import path

from communa.connectors import views

app_name = "sources"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.choose, name="choose"),
    path("new/<slug:kind>/", views.create, name="create"),
    path("<int:source_id>/", views.edit, name="edit"),
    path("<int:source_id>/pause/", views.pause, name="pause"),
    path("<int:source_id>/resume/", views.resume, name="resume"),
]
