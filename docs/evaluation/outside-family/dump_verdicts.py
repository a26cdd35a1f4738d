"""Dump a replay store's verdicts to JSON lines: python dump_verdicts.py DBPATH OUT"""
import sys
from chdb import session
s = session.Session(sys.argv[1])
r = s.query("SELECT org_id, unit_id, measure, toString(toDate(window_start)) w, value, count, size, centre, z, rule, detector, verdict, chart FROM quality.verdicts FINAL WHERE verdict != 'withdrawn'", "JSONEachRow")
open(sys.argv[2], "w").write(r.bytes().decode())
