"""Per-job stage functions with no Prefect inside: planning, generate → compose → QA → publish, budgets.

The flows wrap these as tasks; the benchmark calls the same functions in a plain loop."""
