from django.urls import path

from communa.moderation import views

app_name = "moderation"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("items/<int:item_id>/claim/", views.claim, name="claim"),
    path("items/<int:item_id>/release/", views.release, name="release"),
    path("items/<int:item_id>/assign/", views.assign, name="assign"),
    path("items/<int:item_id>/<str:verdict>/", views.resolve, name="resolve"),
    path("conflicts/<int:alert_id>/dismiss/", views.dismiss_conflict, name="dismiss_conflict"),
    path("rules/", views.rules, name="rules"),
    path("rules/validate/", views.validate, name="validate"),
    path("rules/off/", views.disable, name="disable"),
    path("rules/strikes/", views.strike_settings, name="strike_settings"),
    path("rules/v<int:version>/", views.rule_set, name="rule_set"),
    path("rules/v<int:version>/modes/", views.save_modes, name="save_modes"),
    path("rules/v<int:version>/backtest/", views.backtest, name="run_backtest"),
    path("rules/v<int:version>/enable/", views.enable, name="enable"),
    path("backtests/<int:backtest_id>/", views.backtest_detail, name="backtest"),
    path("backtests/<int:backtest_id>/examples/<int:message_id>/mark/", views.mark_example, name="mark_example"),
    path("decisions/", views.decisions, name="decisions"),
    path("decisions/<int:decision_id>/", views.decision, name="decision"),
    path("decisions/<int:decision_id>/reverse/", views.reverse_decision, name="reverse"),
    path("appeals/", views.appeals, name="appeals"),
    path("appeals/<int:appeal_id>/", views.appeal, name="appeal"),
    path("reports/", views.reports, name="reports"),
    path("member/<int:member_id>/panel", views.member_panel, name="member_panel"),
    path("member/<int:member_id>/strikes/", views.add_strike, name="add_strike"),
    path("strikes/<int:strike_id>/remove/", views.remove_strike, name="remove_strike"),
]
