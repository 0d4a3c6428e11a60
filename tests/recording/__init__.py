"""Tests of scops_tui.recording."""
