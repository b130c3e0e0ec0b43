"""Sandboxed Jinja prompt templates → StructuredPrompt; the built-in templates live in templates/."""
