"""The terminal app of scops-tui: screens over the headless core, which it reaches only from thread workers."""
