"""Who may use the agent-assist panel: users, API keys, browser sessions, roles."""
