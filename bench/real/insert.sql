-- SPDX-License-Identifier: MIT
-- insert.sql: an insert-heavy sqlite3 workload for `make bench`.
--
-- Usage: sqlite3 :memory: '.parameter set @rows 40000' '.read insert.sql'
--        (a benchmark workload, not a test)
--
-- Fills an indexed table of @rows rows, one INSERT statement per row (a recursive
-- trigger-free loop is not possible in SQL, so rows come from a recursive CTE in
-- batches of 100), then updates, deletes and re-inserts a share of them.
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL, tag TEXT, qty INTEGER);
CREATE INDEX item_name ON item(name);
CREATE INDEX item_tag ON item(tag, qty);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @rows)
INSERT INTO item(name, tag, qty)
	SELECT printf('item-%d-%d', i, i * 7919 % 100003), 'tag' || (i % 97), i % 1000 FROM n;
UPDATE item SET name = name || '-x', qty = qty + 1 WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
INSERT INTO item(name, tag, qty) SELECT name || '-y', tag, qty FROM item WHERE id % 7 = 0;
SELECT count(*), sum(qty), max(name) FROM item;
