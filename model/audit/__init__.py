"""Finding the labels' mistakes: suspects (missing, wrong class, sloppy mask, spurious) from
the model's predictions, cross-fold predictions so a model cannot vouch for errors it has
memorised. Sits above training (it trains fold models); the per-class figures it ranks by
live in model/metrics, which training also uses."""
