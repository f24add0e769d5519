"""Shared test set-up: headless Qt, and small synthetic data builders."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _seeded():
    """Random-weight models and random data come out the same in every run, so a test
    that passes once passes always (an unseeded model can, now and then, detect nothing)."""
    import random

    import numpy as np
    import torch
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
