from django.urls import path

from communa.inbox import views

app_name = "inbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("bulk/", views.bulk, name="bulk"),
    path("views/share/", views.share_view, name="share_view"),
    path("views/<int:view_id>/remove/", views.remove_view, name="remove_view"),
    path("member/<int:member_id>/panel/", views.member_panel, name="member_panel"),
    path("<int:conversation_id>/", views.conversation, name="conversation"),
    path("<int:conversation_id>/live/", views.live, name="live"),
    path("<int:conversation_id>/suggestions/", views.suggested, name="suggestions"),
    path("<int:conversation_id>/saved-replies/", views.saved_reply_picker, name="saved_replies"),
    path("<int:conversation_id>/reply/", views.reply, name="reply"),
    path("<int:conversation_id>/replies/<int:reply_id>/retry/", views.retry_reply, name="retry_reply"),
    path("<int:conversation_id>/note/", views.note, name="note"),
    path("<int:conversation_id>/state/", views.change_state, name="state"),
    path("<int:conversation_id>/assign/", views.assign, name="assign"),
    path("<int:conversation_id>/priority/", views.priority, name="priority"),
    path("<int:conversation_id>/composing/", views.composing, name="composing"),
]
