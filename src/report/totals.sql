-- Report totals.
SELECT (SELECT count(*) FROM grp) AS groups,
       count(*) AS objects,
       coalesce(sum(n_entries), 0) AS files,
       coalesce(sum(disk_bytes), 0) AS disk_bytes,
       coalesce(sum(size), 0) AS size
FROM object
