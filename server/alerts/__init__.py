"""Cloud alert intake: webhook parsing (Tencent Cloud Monitor, Alertmanager), dedup, aggregation, storage.

Public entry points: ``AlertService`` (service.py) and ``setup_alert_routes`` (routes.py).
"""
