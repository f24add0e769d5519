"""Qt-free editing: undoable ops that apply and revert exactly, one Edit per user action, the stroke engine, polygon vertices, and the review policy."""
