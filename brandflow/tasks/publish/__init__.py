"""Publishing targets behind one interface (see base.Publisher)."""
