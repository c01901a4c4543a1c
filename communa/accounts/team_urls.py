from django.urls import path

from communa.accounts import team_views

app_name = "team"

urlpatterns = [
    path("", team_views.index, name="index"),
    path("members/<int:membership_id>/role/", team_views.change_role, name="change_role"),
    path("members/<int:membership_id>/remove/", team_views.remove_member, name="remove_member"),
    path("invitations/", team_views.invite, name="invite"),
    path("invitations/<int:invitation_id>/revoke/", team_views.revoke_invitation, name="revoke_invitation"),
    path("audit/", team_views.audit_log, name="audit"),
]
