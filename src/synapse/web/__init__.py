"""Pages and static files of the admin UI."""
