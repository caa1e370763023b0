"""Identity: users and roles, password login, server-side sessions, API tokens, login throttling."""
