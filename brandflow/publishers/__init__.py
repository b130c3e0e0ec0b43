"""Publishing targets behind one interface (see base.Publisher); keys; provenance marking."""
