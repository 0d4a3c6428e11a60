"""Tests of scops_tui.cli."""
