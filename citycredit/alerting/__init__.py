"""Alert delivery: subscriptions and their filters, the outbox that sends each alert once and
in order, and the channels it sends through (signed webhooks, 企业微信 and 钉钉 group robots,
email), with daily digests and quiet hours. Not web code: the desk and API (``web``) create
subscriptions; the ``deliver_alerts`` agent drives the outbox."""
