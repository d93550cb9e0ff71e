"""Runnable examples of REINFORCE's three classic use cases; run them from the repository root, e.g.
``python -m examples.text_generation``. See docs/examples.md."""
