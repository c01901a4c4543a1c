from django.urls import path

from communa.members import views
from communa.members.engagement import views as engagement_views

app_name = "members"

urlpatterns = [
    path("", views.index, name="index"),
    path("suggestions/", views.suggestions, name="suggestions"),
    path("suggestions/<int:suggestion_id>/accept/", views.decide, {"decision": "accept"}, name="accept"),
    path("suggestions/<int:suggestion_id>/reject/", views.decide, {"decision": "reject"}, name="reject"),
    path("merges/<int:merge_id>/undo/", views.undo, name="undo"),
    path("<int:member_id>/", views.profile, name="profile"),
    path("key-people/", engagement_views.key_people, name="key_people"),
    path("<int:member_id>/timeline/", engagement_views.timeline, name="timeline"),
]
