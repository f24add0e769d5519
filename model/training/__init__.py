"""Fine-tuning and training from scratch: the loop, its data, checkpoints and resume state, torchrun, and the model versions of a dataset."""
