"""Who is calling over HTTP: principals and roles, the admin token, device tokens, failed-auth throttling."""
