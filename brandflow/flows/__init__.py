"""Prefect flows, tasks and deployments: wiring only; stage work lives in the stage rooms and brandflow.pipeline."""
