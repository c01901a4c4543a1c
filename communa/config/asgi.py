import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "communa.config.settings")
application = get_asgi_application()

# A served page allocates enough container objects to trigger a young-generation collection on most requests
# (~7 ms of the inbox's conversation page, docs/benchmarks.md "Inbox"), each one walking everything loaded at
# start-up. Freezing what start-up loaded takes it out of every collection, and a higher first threshold makes
# collections rarer; garbage without cycles is still freed at once by reference counting.
gc.freeze()
gc.set_threshold(50_000, 20, 100)
