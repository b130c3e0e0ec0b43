"""Image generator backends behind one interface (see base.Generator)."""
