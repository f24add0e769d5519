"""Bundled data files. Installed as the package `maskloop_resources` (see pyproject.toml),
so a wheel carries the demo images under a name no other project uses."""
