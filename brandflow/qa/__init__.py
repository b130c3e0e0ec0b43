"""Machine QA: each check is a pure function of an image and its context, behind one interface (base.Check)."""
