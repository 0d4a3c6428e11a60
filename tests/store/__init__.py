"""Tests of scops_tui.store."""
