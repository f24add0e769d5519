"""How good a model is on labelled data: COCOeval, per class."""
