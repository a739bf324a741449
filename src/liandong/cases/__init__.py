"""Cases (案件): one aggregate, one current state, one append-only event log."""
