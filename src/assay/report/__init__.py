"""Reports: self-contained HTML, JSON and terminal renderings of pillar results."""
