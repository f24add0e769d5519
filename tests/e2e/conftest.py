"""The end-to-end walkthroughs use the app tests' fixtures (a fake predictor, a window factory)."""
from tests.app.conftest import *  # noqa: F401,F403 - registers the fixtures here
