"""The web console: login (admin token → session cookie + CSRF token) and pages over the /api routes."""
