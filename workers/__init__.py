"""The μP library and training loop. Knows nothing of Ray, REST or the database."""
