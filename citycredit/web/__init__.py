"""The delivery surface: the monitoring desk (pages, JSON API, CSV, live feed), alert
subscriptions and webhook delivery, and the Prometheus endpoint."""
