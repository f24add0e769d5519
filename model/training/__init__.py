"""Fine-tuning and training from scratch: a run's settings, building it and running it
(with hooks), its data, checkpoints and resume state, torchrun, learning while a person
works, and the model versions of a dataset."""
