"""Stage work: each module does one stage of the campaign (catalog, prompts, generate, compose, publish)."""
