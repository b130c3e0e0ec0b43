"""brandflow: declarative content pipelines on Prefect.

product feed → structured prompts → generated creatives → machine QA → review report → publishing.
"""

__version__ = "0.1.0"
