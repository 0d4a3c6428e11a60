"""Tests of scops_tui.sync."""
