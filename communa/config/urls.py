from django.urls import include, path

from communa.api.router import api
from communa.server import views as server_views

urlpatterns = [
    path("", server_views.home, name="home"),
    path("healthz", server_views.healthz, name="healthz"),
    path("accounts/", include("communa.accounts.urls")),
    path("hooks/", include("communa.ingest.urls")),
    path("w/<slug:workspace>/stream/", include("communa.stream.urls")),
    path("w/<slug:workspace>/inbox/", include("communa.inbox.urls")),
    path("w/<slug:workspace>/members/", include("communa.members.urls")),
    path("w/<slug:workspace>/signals/", include("communa.enrichment.urls")),
    path("w/<slug:workspace>/sources/", include("communa.connectors.urls")),
    path("w/<slug:workspace>/moderation/", include("communa.moderation.urls")),
    path("appeal/", include("communa.moderation.public_urls")),
    path("w/<slug:workspace>/deliveries/", include("communa.outbox.urls")),
    path("w/<slug:workspace>/team/", include("communa.accounts.team_urls")),
    path("w/<slug:workspace>/analytics/", include("communa.analytics.urls")),
    path("shared/reports/", include("communa.analytics.shared_urls")),
    path("w/<slug:workspace>/webhooks/", include("communa.webhooks.urls")),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
