"""What humans read and decide on: the run report."""
