"""Tests of scops_tui.transfer."""
