-- The groups of populate_lic objects, which -d leaves alone (see
-- duplicates.sql), in id order.
SELECT g.id FROM grp g WHERE g.task = 'populate_lic' ORDER BY g.id
