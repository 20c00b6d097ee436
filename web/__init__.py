"""Web layer: blueprints (pages, JSON API, auth) and the services they share.

``yizhan.app.create_app`` registers these; nothing here is imported by the engine packages.
"""
