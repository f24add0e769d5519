"""How much work a person does: the counting scheme of actions (action_costs.py), the simulated
annotator that plays one fixed policy with MaskLoop's real edit operations, and the effort
recorded per model round in a real session."""
