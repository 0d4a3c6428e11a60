"""The headless core of scops-tui: sampling, storage, detection, export and sync; never imports Textual."""
