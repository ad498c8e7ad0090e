"""Generated dedup API packages; see dedup/v1/*.proto."""
