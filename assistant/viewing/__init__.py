"""Showing a citation in its document: the `surrounding` text and the source
viewer's `pages` (a PDF page drawn with the excerpt boxed)."""
