"""The network: building it, weights and checkpoints (weights_only), the Predictor and its postprocessing, box -> mask and click -> instance, compute devices."""
