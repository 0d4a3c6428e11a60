"""Tests of scops_tui.detection."""
