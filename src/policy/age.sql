-- age (--older-than): every object whose last use (the newest mtime of its
-- entries) is before the cutoff.
SELECT id FROM object WHERE last_used_ns < :cutoff
