"""Lightning callbacks of a run: the mixing step at round ends, the run record, in-round feeds, the curriculum's pool, progress."""
