"""Emergency linkage (应急联动): incidents, their command log and the 五早 clock, built on the case core.

An incident (突发事件) has one state table (``actions.py``), one append-only log that is both its command log
and its state history (``log.py``), one visibility rule (``visibility.py``), and may be raised from a case and
list further cases, which keep their own life cycles (``linked_cases.py``). The 五早 figures are read from its
events (``five_early.py``). Plans, tasks and CAP warnings build on these.
"""
