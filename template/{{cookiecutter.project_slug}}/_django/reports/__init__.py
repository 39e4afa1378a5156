"""Reports: a model, the jobs that complete and clean them, and the views that ask for them."""
