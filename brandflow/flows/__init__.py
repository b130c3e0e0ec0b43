"""Prefect flows: wiring only; the stage work lives in brandflow.tasks and brandflow.qa."""
