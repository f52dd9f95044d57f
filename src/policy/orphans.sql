-- orphans (--remove-orphans): every object that has no archive. A siginfo
-- or .sig whose own archive is gone is an orphan, even when its group has
-- archives of other versions.
SELECT id FROM object WHERE archive_mtime_ns IS NULL
