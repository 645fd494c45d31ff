# SPDX-License-Identifier: MIT
# gen-insert.py: writes to stdout the insert-heavy SQL script that `make bench` runs with
# the sqlite3 shell: one statement per row, the way an application without prepared
# statements would load data, so each one is parsed, planned and run on its own.
#
# Usage: python3 gen-insert.py [rows=48000] > insert.sql
#
# The script creates a table with two indexes, then in one transaction inserts ROWS rows,
# one INSERT each; after every 10th insert it updates a row inserted earlier and after
# every 50th deletes one; it ends with a query over the whole table.  The same ROWS always
# gives the same script.
import sys

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 48000
out = sys.stdout
out.write("CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL, tag TEXT, "
          "qty INTEGER, price REAL);\n"
          "CREATE INDEX item_name ON item(name);\n"
          "CREATE INDEX item_tag ON item(tag, qty);\n"
          "BEGIN;\n")
for i in range(1, rows + 1):
    out.write("INSERT INTO item(name, tag, qty, price) VALUES ('item-%d-%d', 'tag%d', %d, %d.%02d);\n"
              % (i, i * 7919 % 100003, i % 97, i % 1000, i % 500, i % 100))
    if i % 10 == 0:
        out.write("UPDATE item SET qty = qty + 1, name = name || '-u' WHERE id = %d;\n"
                  % (i * 7919 % 100003 % i + 1))
    if i % 50 == 0:
        out.write("DELETE FROM item WHERE id = %d;\n" % (i * 104729 % 100019 % i + 1))
out.write("COMMIT;\n"
          "SELECT count(*), sum(qty), max(name), round(sum(price), 2) FROM item;\n")
